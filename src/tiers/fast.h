/* hakmem: the fast tier: a bounded array of pointers per thread and class.
 *
 * Invariants:
 *   - slot[0..n) are free blocks of the class; n <= cap <= HAK_FAST_CAP_MAX.
 *   - The tier never reads or writes a free block's memory: a block it
 *     holds is as the program left it (so a use-after-free write cannot
 *     corrupt this tier, and a freshly popped block is not cache-missed).
 *   - cap = 0 (HAKMEM_TINY_FAST_CAP=0, or a thread without state): every
 *     pop misses and every push is refused.
 *   - n, misses, spills and hits are read by other threads (statistics):
 *     written with HAK_RELAXED_SET/ADD only.
 *   - Pops take the newest block (LIFO, cache-warm); batches leaving the
 *     tier take the oldest.
 */
#ifndef HAK_TIERS_FAST_H
#define HAK_TIERS_FAST_H

#include <stdint.h>

#define HAK_FAST_SLOTS 128              /* = HAK_FAST_CAP_MAX */

struct hak_fast_class {
    uint32_t n, cap;
    uint64_t misses, spills;
    uint64_t hits;                      /* counted in debug builds only */
    void *slot[HAK_FAST_SLOTS];
};

struct hak_fast_tls {
    struct hak_fast_class c[40];        /* HAK_NCLASSES */
};

#endif /* HAK_TIERS_FAST_H */
