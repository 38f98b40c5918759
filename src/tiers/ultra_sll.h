/* hakmem: the ultra-sll tier: an intrusive singly linked list per thread
 * and class, the fewest instructions per operation of any tier.
 *
 * Invariants:
 *   - Blocks are held in a struct hak_sll (sll.h). Its n and the counters
 *     misses, spills and hits are read by other threads (statistics):
 *     written with HAK_RELAXED_SET/ADD only.
 *   - cap = 0 (HAKMEM_TINY_ULTRA=0 or HAKMEM_TINY_ULTRA_CAP=0, or a thread
 *     without state): every pop misses and every push is refused.
 *   - Refill and spill move a fixed half of cap: no adaptation, no extra
 *     state to touch on the hot path.
 */
#ifndef HAK_TIERS_ULTRA_SLL_H
#define HAK_TIERS_ULTRA_SLL_H

#include <stdint.h>

#include "sll.h"

/* The statistics, apart from the lists so the hot part of all classes
 * (16 bytes each) fits in ten cache lines. */
struct hak_ultra_sll_class {
    uint64_t misses, spills;
    uint64_t hits;                      /* counted in debug builds only */
};

struct hak_ultra_sll_tls {
    struct hak_sll l[40];               /* HAK_NCLASSES */
    struct hak_ultra_sll_class c[40];
};

#endif /* HAK_TIERS_ULTRA_SLL_H */
