/* hakmem: the data structures every module shares.
 *
 * Map of this file:
 *   constants      chunk, SuperSlab and slab geometry; size-class count
 *   hak_slab       one slab: owner-only part, then the shared part
 *   hak_superslab  the 2 MiB region and its slab descriptors
 *   hak_thread     per-thread state: cache tiers first (hot), then the
 *                  SuperSlab tier's slab lists, then identity and counters
 *
 * Memory layout of a SuperSlab (aligned to its size, so the SuperSlab of a
 * block is block & ~(HAK_SS_SIZE - 1)):
 *
 *   +-----------+-----------+-----------+-- ... --+-----------+
 *   | slab 0:   | slab 1    | slab 2    |         | slab 31   |
 *   | header +  | blocks of | blocks of |         |           |
 *   | slab descs| one class | one class |         |           |
 *   +-----------+-----------+-----------+-- ... --+-----------+
 *   0          64K         128K                              2M
 *
 * Slab 0 holds only metadata; its untouched pages cost no RSS.
 *
 * Counting identity of a slab, always true for its owner outside a call:
 *   capacity = used + |local free list| + (capacity - carved)
 * where carved counts blocks ever cut from the bump area. Blocks in the
 * remote queue are still counted in used until the owner drains them.
 */
#ifndef HAK_TYPES_H
#define HAK_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hak_plan.h"

#define HAK_CHUNK_SHIFT 21                      /* one SuperSlab = one chunk */
#define HAK_SS_SIZE ((size_t)1 << HAK_CHUNK_SHIFT)
#define HAK_SLAB_SHIFT 16
#define HAK_SLAB_SIZE ((size_t)1 << HAK_SLAB_SHIFT)
#define HAK_SLABS_PER_SS ((unsigned)(HAK_SS_SIZE / HAK_SLAB_SIZE))
#define HAK_PAGE_SIZE ((size_t)4096)

#define HAK_ALIGN 16                            /* alignof(max_align_t) */
#define HAK_SMALL_MAX ((size_t)32768)
#define HAK_NCLASSES 40
/* Large spans a thread keeps for its next large mallocs (large.c): at
 * most so many, of so many bytes in all (tcmalloc's bound on a thread's
 * cache). With 8 spans and 2 MiB, a thread replacing 50 live blocks of
 * 33-128 KiB at random took one block in eight from the shared cache,
 * under its lock; with these, one in 200. */
#define HAK_KEEP_SPANS 32
#define HAK_KEEP_BYTES ((size_t)4 << 20)
/* Freed large spans the cache (large.c) keeps for the decay: so many
 * bytes in all, spans of at most so many each (so one never empties it).
 * With 64 MiB a clone of mimalloc's stress test (4 threads, callocs of
 * 0.4 to 25.6 MB, the threads started 25 times over) faulted 1.6 GB in
 * anew, 1.3 s; with 128 MiB 0.25 GB, 0.78 s, for 3% more peak RSS
 * (tcmalloc, which keeps all: 0.15 GB, 0.73-0.83 s); both with calloc's
 * split (large.c, span_split). */
#define HAK_LARGE_CACHE_BYTES ((size_t)128 << 20)
#define HAK_LARGE_CACHE_SPAN_MAX ((size_t)32 << 20)
/* Remote runs a thread builds at once, one per slab (a power of 2). */
#define HAK_RUNS 16

#define HAK_CACHE_LINE 64
#define HAK_TRACE_RING 256              /* events kept per thread (debug) */

/* Tagged chunk-map entries: address of the region | kind. */
enum hak_chunk_kind { HAK_CHUNK_FOREIGN = 0, HAK_CHUNK_SS = 1, HAK_CHUNK_LARGE = 2 };
#define HAK_CHUNK_KIND_MASK ((uintptr_t)3)

/* Which of its owner's lists a slab is on (a spare is empty and serves
 * no class: superslab.c). */
enum hak_slab_list {
    HAK_SLAB_NONE = 0,
    HAK_SLAB_CUR,
    HAK_SLAB_PARTIAL,
    HAK_SLAB_FULL,
    HAK_SLAB_SPARE
};

struct hak_large;               /* backends/large.c */

struct hak_slab {
    /* Line 0, read by every free from any thread: the class, the block
     * check, the owner test. xowner changes only when the slab is
     * abandoned or adopted; the owner-only fields after it change on the
     * owner's slow paths (and on each block in a plan without cache tiers),
     * so another thread's free reads this line but rarely finds it moved. */
    uint8_t cls;
    uint8_t in_use;             /* out of the pool */
    uint8_t div_shift;          /* exact division by block_size: sizeclass.h */
    uint8_t list;               /* enum hak_slab_list (owner-only) */
    uint32_t div_inv;
    uint32_t capacity;          /* blocks; 0 while the slab is in the pool */
    uint32_t block_size;
    _Atomic(uint64_t) xowner;   /* thread id; 0 = abandoned */

    /* Owner-only: read and written by the thread whose id is in xowner. */
    void *free;                 /* local free list, linked through word 0 */
    char *bump;                 /* next never-carved block; the carvable area
                                 * ends at capacity * block_size */
    uint32_t used;              /* blocks out of the slab (program, caches,
                                 * remote runs and queue) */
    uint16_t index;             /* position in its SuperSlab */
    bool remote_seen;           /* other threads have given blocks back */
    struct hak_slab *next, *prev;

    /* Written by other threads (every remote push), so on its own line. */
    /* MPSC stack of blocks freed by non-owners: its head and its length
     * packed in one word (superslab.c). */
    _Alignas(HAK_CACHE_LINE) _Atomic(uintptr_t) xremote;
    /* A copy of used, published while the slab is on its owner's full
     * list (under the owner's heap lock) or on the abandoned list (under
     * that list's lock), 0 otherwise. A pusher reads it without a lock:
     * when its blocks would bring the queue to it, every block is coming
     * back, and it takes that lock to give the slab back at once; when
     * they bring the queue to half of it, it tries to move the slab to
     * the abandoned list (superslab.h). */
    _Atomic uint32_t xused_hint;
    /* Pushers between their CAS on xremote and their last look at this
     * descriptor: while any is, the SuperSlab is not unmapped. */
    _Atomic uint32_t xpushers;
    /* The owner's state (NULL while abandoned or free), for that lock. */
    _Atomic(struct hak_thread *) xowner_t;
    /* Under the abandoned-list lock: the slab's place on that list. */
    struct hak_slab *abandoned_next, *abandoned_prev;
    /* Under the pool lock, while the slab is free with resident pages:
     * when it went back (ms, monotonic), so the decay times each slab. */
    uint64_t freed_ms;
#if !HAKMEM_BUILD_RELEASE
    /* Debug: bit i set while block i is held by the program. */
    _Atomic(uint64_t) xlive[HAK_SLAB_SIZE / HAK_ALIGN / 64];
#endif
};
_Static_assert(offsetof(struct hak_slab, xremote) == HAK_CACHE_LINE,
               "what every free reads fits the first line");

#define HAK_SS_MAGIC 0x68616b6d53536c62ull      /* "hakmSSlb" */

/* The lists of SuperSlabs (superslab.c): every one; those with a free
 * slab (the pool); those with a free slab whose pages may still be
 * resident (warm). */
enum hak_ss_list { HAK_SS_ALL, HAK_SS_POOL, HAK_SS_WARM, HAK_SS_LISTS };
struct hak_ss_link {
    struct hak_superslab *next, *prev;
    bool on;
};

/* Rows of slab descriptors in a SuperSlab, one used (superslab.h,
 * _hak_slab_of): fewer in debug builds, whose descriptors carry a bitmap. */
#define HAK_SS_COLOURS (HAKMEM_BUILD_RELEASE ? 8u : 2u)

struct hak_superslab {
    /* Slab i's descriptor is desc[colour * HAK_SLABS_PER_SS + i]. The
     * other rows, and slot 0 of each (slab 0 is this header's), stay
     * zero: slabs out of use, which no block passes. */
    struct hak_slab desc[HAK_SS_COLOURS * HAK_SLABS_PER_SS];
    uint64_t magic;
    /* Under the pool lock. */
    struct hak_ss_link link[HAK_SS_LISTS];
    uint32_t free_mask;         /* bit i: slab i is free (in the pool) */
    uint32_t dirty_mask;        /* free slabs whose pages may still be resident */
};

/* Per-class state of the SuperSlab tier for one thread. */
struct hak_ss_class {
    struct hak_slab *cur;       /* allocated from first */
    struct hak_slab *partial;   /* have free or uncarved blocks */
    struct hak_slab *full;      /* had none when last looked at; may hold remote frees; */
    struct hak_slab *full_tail; /* oldest first, as their blocks tend to come back */
};

/* The carve bound of a class's chain refills (superslab.c, carve_bound):
 * HAK_PAGE_SIZE << shift bytes, and the idle tick of the last refill that
 * carved. Apart from hak_ss_class, which the superslab plan's inline pop
 * indexes, so that stays 32 bytes a class. */
struct hak_ss_carve {
    uint32_t shift;
    uint32_t tick;
};

/* Counters the SuperSlab tier keeps for its thread. Blocks "out" left a
 * slab through this thread; blocks "in" came back through it (locally or by
 * a remote push). Live small blocks = sum(out - in) - blocks in caches. */
struct hak_ss_counters {
    uint64_t out, in;
    uint64_t large_out, large_in;       /* large mallocs and frees (large.c) */
    uint64_t remote_pushes, adoptions, slabs_acquired, slabs_released;
};

enum hak_thread_state {
    HAK_THREAD_UNINIT = 0,      /* the static empty thread: every cache misses */
    HAK_THREAD_ACTIVE,
    HAK_THREAD_DEAD,            /* its key destructor ran; uses the orphan heap */
};

struct hak_thread {
    /* Hot: the cache tiers of the plan, in plan order. */
#define HAK_TIER_STATE_FIELD(name, Name) struct hak_##name##_tls name;
    HAK_PLAN_CACHE_TIERS(HAK_TIER_STATE_FIELD)
#undef HAK_TIER_STATE_FIELD

    /* Warm: the SuperSlab tier. */
    uint64_t id;                /* owner id stamped on slabs; never reused */
    /* Blocks this thread freed into slabs it does not own, linked
     * head..tail per slab, not yet on their remote queues (superslab.c):
     * HAK_RUNS runs, a slab's in the slot its address picks; run_mask has
     * a bit per run that holds blocks. A run is all zero or holds blocks
     * (slab set, n > 0, its bit in run_mask): a flush clears it whole. */
    struct hak_remote_run {
        struct hak_slab *slab;
        void *head, *tail;
        uint32_t n;
        uint32_t seen;          /* run_tick at its last block */
    } run[HAK_RUNS];
    uint32_t run_mask;
    uint32_t run_tick;          /* blocks that joined a run, ever */
    struct hak_ss_class ss[HAK_NCLASSES];
    struct hak_ss_carve carve[HAK_NCLASSES];
    /* Empty slabs kept for the thread's next slab of any class, linked
     * through next, newest first; at most spare_max (0 for a state no
     * purger reaches). nspare is read by the purger without the lock. */
    struct hak_slab *spare;
    uint32_t nspare, spare_max;
    struct hak_ss_counters ctr;
    /* The idle-class sweep (stack.c): slow-path calls so far, the count
     * at each class's last one, the block on top of each class's cache
     * when the sweep last looked, the classes it emptied that have had no
     * slow path since, and those of them whose tiers it has also put back
     * to their starting caps. */
    struct hak_idle {
        uint32_t tick;
        uint32_t last[HAK_NCLASSES];
        void *top[HAK_NCLASSES];
        uint64_t swept, rebased;
    } idle;

    /* Cold. */
    int state;                  /* enum hak_thread_state */
    /* The large spans this thread freed last, newest last, kept for its
     * next large mallocs without the cache's lock or any atomic
     * read-modify-write (large.c); keeps_span is set for registered
     * threads only, whose spans the purger reaches. The thread is inside
     * its keep while busy is set; the purger asks for the spans with
     * steal. */
    struct hak_keep {
        struct hak_large *span[HAK_KEEP_SPANS];
        size_t room[HAK_KEEP_SPANS];            /* span_room of each */
        size_t bytes;                           /* their sum */
        uint32_t n;                             /* read by walkers (relaxed) */
        _Atomic uint32_t busy, steal;
    } keep;
    bool keeps_span;
    struct hak_thread *reg_next, *reg_prev; /* registry, under its lock */
#if !HAKMEM_BUILD_RELEASE
    /* Debug: the last HAK_TRACE_RING events of this thread. */
    struct hak_trace_entry {
        const void *p;
        uint8_t ev, cls;
    } trace[HAK_TRACE_RING];
    uint32_t trace_pos;
#endif
    /* The last two are written by other threads and kept out of the memset
     * that recycles the state for a new thread: a stale pusher may still
     * set a bit, a stale holder may still be about to release the lock. */
    /* Bit c: a remote free reached a full slab of class c of this thread
     * (superslab.c, scan_full_noted). */
    _Alignas(HAK_CACHE_LINE) _Atomic uint64_t xfull_remote;
    /* Held by the thread whenever it works on its slabs (plans with cache
     * tiers: their fast paths never touch a slab), and taken with a
     * trylock by another thread that gives back one of its slabs
     * (superslab.h). 0 free, 1 held, 2 held while the user may sleep on
     * it: a futex, not a spinlock, since on a busy machine the other
     * thread may be preempted while holding it. */
    _Atomic uint32_t heap_lock;
};

#endif /* HAK_TYPES_H */
