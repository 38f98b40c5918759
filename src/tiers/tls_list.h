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
 *   - base (the knob, bounded by the byte budget) <= cap <= max(base,
 *     min(HAK_TLS_CAP_MAX, HAK_TLS_GROW_CLASS / size)); grown is the sum
 *     of (cap - base) * size over the classes, <= HAK_TLS_GROW_THREAD.
 *     cap doubles at a miss that finds batch at half the cap or more when
 *     a spill came since the cap last tried to grow: the class swings by
 *     more than the cap both ways (a program that allocates a run of
 *     blocks, then frees them), and each swing would take its blocks down
 *     to the slabs and back. Half, not all: in a steady swing each round
 *     has one miss (batch doubles) and one spill (it halves), so batch
 *     stays at half the cap, and a cap that waited for a full batch
 *     stopped at the first power of two above the swing, where every
 *     round still moved a batch down and back. A thread that only
 *     allocates a class (a producer) or whose class count walks at random
 *     (a miss at a large batch is then rare) keeps the base. The stack's
 *     idle sweep empties the list of a class gone idle, so a grown class
 *     holds its blocks only while it is in use; cap and batch are back at
 *     their start when a later sweep finds the class idle still. Only a
 *     refill grows the cap, and the stack refills only the tier that
 *     missed: under the fast tier, while that is on, this one keeps its
 *     base.
 */
#ifndef HAK_TIERS_TLS_LIST_H
#define HAK_TIERS_TLS_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "sll.h"

#define HAK_TLS_BATCH_MIN 4
/* How far caps grow: a busy class up to 1 MiB (a run of a thousand 1 KiB
 * blocks) or 8192 blocks, and all classes of a thread by 2 MiB together
 * above their bases. */
#define HAK_TLS_GROW_CLASS ((uint64_t)1 << 20)
#define HAK_TLS_GROW_THREAD ((uint64_t)2 << 20)
#define HAK_TLS_CAP_MAX 8192

/* What the slow paths and the statistics use, apart from the lists so the
 * hot part of all classes (16 bytes each) fits in ten cache lines. */
struct hak_tls_list_class {
    uint32_t batch;
    uint32_t base;
    bool spilled;                       /* since the cap last tried to grow */
    uint64_t misses, spills;
    uint64_t hits;                      /* counted in debug builds only */
};

struct hak_tls_list_tls {
    struct hak_sll l[40];               /* HAK_NCLASSES */
    struct hak_tls_list_class c[40];
    uint64_t grown;
};

#endif /* HAK_TIERS_TLS_LIST_H */
