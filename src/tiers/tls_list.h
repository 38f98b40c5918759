/* hakmem: the tls-list tier: an intrusive list with a count per thread and
 * class, refilled and spilled in batches whose size adapts.
 *
 * Invariants:
 *   - Blocks are held in a struct hak_sll (sll.h). Its n and the counters
 *     misses, spills and hits are read by other threads (statistics):
 *     written with HAK_RELAXED_SET/ADD only.
 *   - HAK_TLS_BATCH_MIN <= batch <= max(cap, HAK_TLS_BATCH_MIN): batch
 *     doubles on every miss (the thread allocates faster than it frees:
 *     fetch more per trip below) and halves on every spill (it frees more
 *     than it allocates: keep less, give back sooner).
 *   - cap = 0 (HAKMEM_TINY_TLS_LIST=0 or HAKMEM_TINY_TLS_LIST_CAP=0, or a
 *     thread without state): every pop misses, every push is refused.
 */
#ifndef HAK_TIERS_TLS_LIST_H
#define HAK_TIERS_TLS_LIST_H

#include <stdint.h>

#include "sll.h"

#define HAK_TLS_BATCH_MIN 4

/* What the slow paths and the statistics use, apart from the lists so the
 * hot part of all classes (16 bytes each) fits in ten cache lines. */
struct hak_tls_list_class {
    uint32_t batch;
    uint64_t misses, spills;
    uint64_t hits;                      /* counted in debug builds only */
};

struct hak_tls_list_tls {
    struct hak_sll l[40];               /* HAK_NCLASSES */
    struct hak_tls_list_class c[40];
};

#endif /* HAK_TIERS_TLS_LIST_H */
