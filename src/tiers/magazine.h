/* hakmem: the magazine tier (Bonwick & Adams, 2001): per thread and class a
 * loaded and a previous magazine (arrays of M rounds), over a process-wide
 * depot of full and empty magazines.
 *
 * Invariants:
 *   - A magazine holds 0..cap free blocks of one class; cap is the class's
 *     M (HAKMEM_MAG_CAP bounded by the byte budget), the same for every
 *     magazine of the class.
 *   - A magazine is in exactly one place: a thread's loaded or prev slot,
 *     the depot's full list, or the depot's empty list. Magazine objects
 *     are metadata: never freed, recycled through the empty list.
 *   - The depot holds at most HAKMEM_MAG_DEPOT full magazines per class
 *     (0 by default: a depot's magazine hands one thread's blocks to
 *     another, whose frees of them then go home as remote frees); when it
 *     is at its bound a push that needs to hand a full magazine over is
 *     refused, and the stack spills the rounds down instead.
 *   - A thread's frees feed another thread's mallocs through the depot
 *     without touching the SuperSlab tier: the rounds in a depot magazine
 *     may belong to any thread's slabs; they reach their owner slab only
 *     when they are finally spilled, flushed or trimmed down.
 *   - cap = 0 (HAKMEM_MAG_CAP=0 or a thread without state): every pop
 *     misses and every push is refused.
 *   - Other threads read a thread's loaded and prev, their n, and the
 *     counters (statistics), and peek at the depot's lists without the
 *     lock: those fields are written with HAK_RELAXED_SET/ADD only.
 */
#ifndef HAK_TIERS_MAGAZINE_H
#define HAK_TIERS_MAGAZINE_H

#include <stdint.h>

struct hak_magazine {
    struct hak_magazine *next;          /* in a depot list */
    uint32_t n, cap;
    void *round[];
};

struct hak_magazine_class {
    struct hak_magazine *loaded, *prev;
    uint32_t cap;
    uint64_t misses, spills;
    uint64_t hits;                      /* counted in debug builds only */
};

struct hak_magazine_tls {
    struct hak_magazine_class c[40];    /* HAK_NCLASSES */
};

#endif /* HAK_TIERS_MAGAZINE_H */
