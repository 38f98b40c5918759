/* hakmem: the SuperSlab tier, the bottom of every plan and the only tier
 * that owns memory.
 *
 * Invariants (DESIGN.md, "Ownership"):
 *   - A SuperSlab is HAK_SS_SIZE bytes aligned to HAK_SS_SIZE, registered in
 *     the chunk map for its whole life; slab i spans [ss + i*64K, +64K) and
 *     serves one class while it is out of the pool.
 *   - A slab has one owner (xowner = thread id, xowner_t its state) or
 *     none (0 = abandoned). Only the owner touches free/bump/used/lists,
 *     or, in a plan with cache tiers, whoever holds the owner's heap lock
 *     (the owner holds it whenever it works on its slabs). Every other
 *     thread returns a block by pushing it on xremote (an atomic MPSC
 *     stack that also counts its blocks).
 *   - The owner drains xremote into free at these points only: when it
 *     has taken a slab's free list and before it takes from the bump area
 *     (blocks given back are reused before a fresh page; and in a slab
 *     other threads have given blocks back to, a batch that found freed
 *     blocks carves none, so the pages a producer touches follow the
 *     blocks it has out, not its batches), when it
 *     adopts a slab, when it trims or exits, and when a class of its own
 *     goes idle (its current slab). It never pops a free list it has not
 *     drained when that list is empty. A remote push to a slab
 *     on its owner's full list sets the class's bit in the owner's
 *     xfull_remote (a push racing with the move to the full list is seen
 *     by the pusher, the owner, or both), and the owner walks its full
 *     slabs before growing only when that bit is set (in plans with cache
 *     tiers; the others, whose full slabs publish no count, always do).
 *   - A chain refill carves a page's worth of fresh blocks, more only
 *     while the class keeps carving (superslab.c, carve_bound), so the
 *     pages a class touches follow its high, not its batches.
 *   - While a slab is on its owner's full list, xused_hint holds its used
 *     count. A remote push that brings the queue to it returns the last
 *     blocks out: if the owner's heap lock is free, the pusher takes it
 *     and gives the slab back to the pool (or, if the count was stale,
 *     drains it onto the partial list). An owner that allocates no more
 *     (a main thread that only joins its workers) so does not keep the
 *     memory others freed into its slabs.
 *   - A free block is in exactly one place: a tier cache, a slab free list,
 *     the remote run of the thread that freed it, or a slab remote queue.
 *     used counts blocks in caches, runs and queues, so a slab with blocks
 *     anywhere but its free list is never released.
 *   - A thread's free of a block of a slab it does not own never enters its
 *     caches (that would hand the block out again next to the owner's
 *     blocks: false sharing); it joins the thread's remote run for its slab
 *     (up to HAK_RUNS runs at once, a slab's in the slot its address
 *     picks), which goes on the slab's remote queue with one CAS when a
 *     block of another slab comes for that slot, when it is full, when
 *     the thread's last RUN_MAX remote frees added none to it, and at
 *     the thread's slow malloc, trim and exit. A run holds at most one
 *     slab's blocks, so the runs hold at most HAK_RUNS slabs' worth.
 *   - In plans with cache tiers, a remote push that brings the queue of a
 *     slab on its owner's full list to half its xused_hint moves it, if
 *     the pusher gets the owner's heap lock and the abandoned list's lock
 *     at once, to the abandoned list (below), as the owner's exit would
 *     (a later push tries again). The owner's caches may still hold
 *     blocks of it; they go back as remote frees.
 *   - In plans with cache tiers a slab its owner empties becomes one of
 *     the owner's spares (up to spare_max): no owner, no capacity, as in
 *     the pool, but on the thread's spare list under its heap lock, until
 *     the thread takes it for a slab of any class or the purger (with a
 *     trylock), a trim or the thread's exit moves it to the pool.
 *   - On thread exit each owned slab is drained; an empty one goes back to
 *     its SuperSlab, any other is abandoned (xowner = 0, put on the
 *     abandoned list of its class, under that list's lock) and later
 *     adopted (unlinked and given a new xowner under the same lock) or
 *     given back by the thread whose remote free returns its last block
 *     (which takes the lock to act as its owner). So to the lock's holder
 *     a slab with blocks out is on the list exactly while xowner is 0.
 *   - A free slab's pages are decommitted, and a SuperSlab whose slabs are
 *     all free goes back to the backend (except HAK_SS_KEEP_EMPTY of them,
 *     kept to absorb churn), once they have been free for the decay
 *     (HAKMEM_DECAY_MS; at once if 0), or at hak_trim(); but never while
 *     a pusher is between its CAS on a slab's queue and its last look at
 *     the descriptor (xpushers above 0): that SuperSlab waits for the
 *     next purge or trim (with a decay of 0, for hak_trim or its reuse).
 *   - The holder of the abandoned-list lock acts as the owner of every
 *     slab on that list: it may drain them and release the empty ones.
 *   - Thread ids are never reused and never 0 or HAK_ID_NONE, so a stale id
 *     can never pass the owner test.
 */
#ifndef HAK_TIERS_SUPERSLAB_H
#define HAK_TIERS_SUPERSLAB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "../compiler.h"
#include "../diag.h"
#include "../track.h"
#include "../types.h"

#define HAK_ID_NONE UINT64_MAX          /* id of threads that own nothing */
#define HAK_SS_KEEP_EMPTY 1
/* Empty slabs a thread keeps for its next slab (superslab.c, spares): one
 * SuperSlab's worth, as many as a phase of a few classes empties. */
#define HAK_SPARE_MAX HAK_SLABS_PER_SS
/* A class's chain refills carve more than a page while each comes within
 * this many of the thread's slow paths of the last (superslab.c,
 * carve_bound). */
#define HAK_CARVE_TICKS 8

HAK_INLINE struct hak_superslab *_hak_ss_of(const void *p)
{
    /* Valid only for p inside a registered SuperSlab (map kind SS). */
    return (struct hak_superslab *)((uintptr_t)p & ~(uintptr_t)(HAK_SS_SIZE - 1));
}

/* Slab i of a SuperSlab has its descriptor in the row of the SuperSlab's
 * colour, its number modulo HAK_SS_COLOURS (types.h): the descriptor's
 * index is p's bits above the slab offset, up to the colour's. With one
 * row, each slab's descriptor sat at the same offset from a 2 MiB
 * boundary in every SuperSlab, so in one set of the L1 and L2 caches
 * (which index by address bits below 64 KiB): past 8 SuperSlabs in use
 * (the ways of a set), the descriptor load of nearly every free missed
 * both. A program with 20000 live blocks of 8 B-32 KB (106 SuperSlabs)
 * spent 48% of its free in that load. Rows 4 KiB apart (in release
 * builds) spread the SuperSlabs over 8 sets per slab. There a descriptor
 * is a power of two in size, so its offset is one shift and one mask of
 * p: every free computes this. */
#define HAK_SLAB_DESC_SIZE sizeof(struct hak_slab)
_Static_assert(!HAKMEM_BUILD_RELEASE || (HAK_SLAB_DESC_SIZE & (HAK_SLAB_DESC_SIZE - 1)) == 0,
               "release slab descriptors are a power of two in size");
_Static_assert(offsetof(struct hak_superslab, desc) == 0, "a descriptor's offset is its index's");
HAK_INLINE struct hak_slab *_hak_slab_of(const void *p)
{
    uintptr_t i = ((uintptr_t)p >> HAK_SLAB_SHIFT) & (HAK_SS_COLOURS * HAK_SLABS_PER_SS - 1);
    return &_hak_ss_of(p)->desc[i];
}

/* Slab i's descriptor of ss. */
HAK_INLINE struct hak_slab *_hak_ss_slab(struct hak_superslab *ss, unsigned i)
{
    return _hak_slab_of((char *)ss + ((size_t)i << HAK_SLAB_SHIFT));
}

HAK_INLINE char *_hak_slab_start(const struct hak_slab *s)
{
    return (char *)_hak_ss_of(s) + ((size_t)s->index << HAK_SLAB_SHIFT);
}

HAK_INLINE char *_hak_slab_end(const struct hak_slab *s)
{
    return _hak_slab_start(s) + (size_t)s->capacity * s->block_size;
}

/* t owns s (the empty thread, whose id is HAK_ID_NONE, owns nothing). */
HAK_INLINE bool _hak_ss_owns(const struct hak_thread *t, const struct hak_slab *s)
{
    return atomic_load_explicit(&s->xowner, memory_order_relaxed) == t->id;
}

/* A slab's xremote packs the head of its remote queue (a SuperSlab
 * address, below 2^HAK_MAP_ADDR_BITS: the chunk map refuses any other)
 * with the queue's length (at most a slab's capacity) in its top bits, so a
 * push is one CAS and a drain knows how many blocks it takes without
 * walking them. */
#define HAK_REMOTE_SHIFT 48
_Static_assert(HAK_MAP_ADDR_BITS <= HAK_REMOTE_SHIFT, "queue heads fit under the count");
_Static_assert(HAK_SLAB_SIZE / HAK_ALIGN < ((uint64_t)1 << (64 - HAK_REMOTE_SHIFT)),
               "a slab's blocks fit the count");
HAK_INLINE void *_hak_remote_head(uintptr_t x)
{
    return (void *)(x & (((uintptr_t)1 << HAK_REMOTE_SHIFT) - 1));
}
HAK_INLINE uint32_t _hak_remote_len(uintptr_t x) { return (uint32_t)(x >> HAK_REMOTE_SHIFT); }

/* The heap lock (types.h). Only t's user waits for it: the thread that
 * owns t, or for the orphan heap the holder of its lock. Any other thread
 * takes it with _hak_heap_trylock and gives it back with
 * _hak_heap_unlock_borrowed, which wakes the user if it sleeps. So the
 * user's own unlock is a plain store, with nobody to wake: it takes the
 * lock on every refill and spill, where pthread_mutex_lock and _unlock
 * (two calls, two locked instructions) had 5-8% of the samples of
 * programs that free in bursts (sh8bench, rptest); bench/rounds gained
 * 2% from the store and the inlined compare-and-swap. Its sections hold
 * the decay's start: pthread_create allocates, and would come back for
 * the lock. In a plan without cache tiers the fast paths work on the
 * slabs, so no other thread may, and there is no lock. */
#define HAK_HEAP_LOCKED (HAK_PLAN_DEPTH > 0)
void _hak_heap_lock_wait(struct hak_thread *t);
void _hak_heap_unlock_borrowed(struct hak_thread *t);

HAK_INLINE bool _hak_heap_trylock(struct hak_thread *t)
{
    _hak_decay_hold();
    uint32_t free_ = 0;
    if (atomic_compare_exchange_strong_explicit(&t->heap_lock, &free_, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return true;
    _hak_decay_release();
    return false;
}

HAK_INLINE void _hak_heap_lock(struct hak_thread *t)
{
    if (!HAK_HEAP_LOCKED)
        return;
    _hak_decay_hold();
    uint32_t free_ = 0;
    if (hak_unlikely(!atomic_compare_exchange_strong_explicit(
            &t->heap_lock, &free_, 1, memory_order_acquire, memory_order_relaxed)))
        _hak_heap_lock_wait(t);
}

HAK_INLINE void _hak_heap_unlock(struct hak_thread *t)
{
    if (HAK_HEAP_LOCKED) {
        atomic_store_explicit(&t->heap_lock, 0, memory_order_release);
        _hak_decay_release();
    }
}

void *_hak_ss_pop_slow(struct hak_thread *t, unsigned cls);
void _hak_ss_push_slow(struct hak_thread *t, struct hak_slab *s, void *b);

/* Pop from the current slab's local free list; NULL means "take the slow
 * path", which carves, drains, switches slabs or acquires one. Plain link
 * access: under valgrind no fast path runs (track.h). */
HAK_INLINE void *_hak_ss_pop_fast(struct hak_thread *t, unsigned cls)
{
    struct hak_slab *s = t->ss[cls].cur;
    if (hak_likely(s != NULL)) {
        void *b = s->free;
        if (hak_likely(b != NULL)) {
            HAK_DEBUG(_hak_debug_check_link("malloc", cls, *(void **)b));
            s->free = *(void **)b;
            s->used++;
            HAK_RELAXED_ADD(t->ctr.out, 1);
            return b;
        }
    }
    return NULL;
}

/* For the slow paths: the slow pop annotates its link reads (track.h). */
HAK_INLINE void *_hak_ss_pop(struct hak_thread *t, unsigned cls)
{
    void *b = HAK_TRACK_ON ? NULL : _hak_ss_pop_fast(t, cls);
    return hak_likely(b != NULL) ? b : _hak_ss_pop_slow(t, cls);
}

/* Push b (of slab s) on the slab's local free list if t owns the slab and
 * the push changes no list; false sends the caller to _hak_ss_push_slow. */
HAK_INLINE bool _hak_ss_push_fast(struct hak_thread *t, struct hak_slab *s, void *b)
{
    if (hak_likely(_hak_ss_owns(t, s) && s->used > 1 && s->list != HAK_SLAB_FULL)) {
        *(void **)b = s->free;
        s->free = b;
        s->used--;
        HAK_RELAXED_ADD(t->ctr.in, 1);
        return true;
    }
    return false;
}

/* Return b (a block of a SuperSlab) to its slab: the owner's free list if t
 * owns the slab, else (through t's remote run) the remote queue. Never
 * refuses. */
HAK_INLINE void _hak_ss_push(struct hak_thread *t, void *b)
{
    struct hak_slab *s = _hak_slab_of(b);
    if (HAK_TRACK_ON || !_hak_ss_push_fast(t, s, b))
        _hak_ss_push_slow(t, s, b);
}

size_t _hak_ss_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n);
void _hak_ss_push_batch(struct hak_thread *t, void **in, size_t n);
/* The chain counterparts (tier.h; plain links, never under valgrind):
 * pop_chain links up to n blocks from *head to *tail and returns how
 * many (*tail NULL: not known, the chain ends with a NULL link; a slab's
 * free list taken whole is not walked); push_chain gives back the n
 * blocks linked from head and returns the n-th one's link (the block
 * after them if the chain goes on, NULL if it ends there; meaningless
 * for a chain whose tail was known). */
size_t _hak_ss_pop_chain(struct hak_thread *t, unsigned cls, size_t n, void **head, void **tail);
void *_hak_ss_push_chain(struct hak_thread *t, void *head, size_t n);
/* The slot of t->run that the run of b's slab takes: slabs of one
 * SuperSlab take different slots. */
HAK_INLINE unsigned _hak_run_slot(const void *b)
{
    return (unsigned)((uintptr_t)b >> HAK_SLAB_SHIFT) & (HAK_RUNS - 1);
}
/* b of s, which t does not own, from t, an active thread: onto s's run
 * in t. Needs no held section (_hak_decay_hold): it takes one when it
 * may flush. */
void _hak_ss_free_remote(struct hak_thread *t, struct hak_slab *s, void *b);
/* Puts each of t's remote runs on its slab's queue. */
void _hak_ss_run_flush(struct hak_thread *t);
/* Class cls of t is idle and its caches are flushed: its current slab,
 * if empty, becomes a spare or goes back to the pool. */
void _hak_ss_idle(struct hak_thread *t, unsigned cls);
/* The spares a new thread may keep. */
uint32_t _hak_ss_spare_max(void);
/* Thread exit: drain, release empty slabs and spares, abandon the rest. */
void _hak_ss_thread_exit(struct hak_thread *t);
/* Drain every owned slab and release those that are empty, and the
 * spares; also sweeps abandoned slabs that have become empty. Returns
 * bytes given back. */
size_t _hak_ss_trim(struct hak_thread *t);
/* SuperSlabs mapped, their bytes, and blocks returned by threads without
 * state of their own (counted here instead of in a thread's counters). */
size_t _hak_ss_purge(uint64_t now_ms, bool all);
bool _hak_ss_dirty(void);
void _hak_ss_stats(size_t *superslabs, size_t *mapped, uint64_t *stateless_in);
/* Bytes of SuperSlab memory resident in RAM (mincore). */
size_t _hak_ss_resident(void);
void _hak_ss_fork_prepare(void);
void _hak_ss_fork_parent(void);
void _hak_ss_fork_child(void);

#endif /* HAK_TIERS_SUPERSLAB_H */
