/* hakmem: the SuperSlab tier (invariants in superslab.h).
 *
 * Three kinds of state, three owners:
 *   - a thread's hak_ss_class lists, its spares, and the owner-only slab
 *     fields belong to the thread whose id is in the slab's xowner (a
 *     spare's is on that thread's spare list);
 *   - the pool (SuperSlabs with free slabs) is under pool_lock;
 *   - abandoned slabs are under abandon_lock, whose holder acts as their
 *     owner (it may drain them and release the empty ones).
 * In a plan with cache tiers the first kind is also under the owner's
 * heap lock, which the owner holds in every function here that works on
 * its slabs, and which another thread takes (only with a trylock) to give
 * back a full slab of the owner whose last block it returns, or to move
 * one half of whose blocks it has returned to the abandoned list.
 * Lock order: heap lock, abandon_lock, pool_lock. The purger takes a
 * thread's heap lock (to move its old spares to the pool) with a trylock
 * under the registry's lock. None is held on the fast paths.
 */
#include "../internal.h"

#include <pthread.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../backend.h"
#include "../tier.h"
#include "hakmem.h"

#define SS_ALL_FREE ((uint32_t)(((uint64_t)1 << HAK_SLABS_PER_SS) - 2)) /* slab 0 is the header */

_Static_assert(sizeof(struct hak_superslab) <= HAK_SLAB_SIZE, "SuperSlab header fits slab 0");
_Static_assert(HAK_SLABS_PER_SS <= 32, "free_mask is 32 bits");

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* The heads of the lists of SuperSlabs (types.h), newest first. A slab is
 * handed out from the warm list before any other, whichever SuperSlab it
 * is in (its front is the SuperSlab that freed a slab last): a program
 * whose slabs churn keeps as many resident as it uses at once, not every
 * one it has touched. */
static struct hak_superslab *ss_head[HAK_SS_LISTS];
static size_t pool_empty;                   /* pool SuperSlabs wholly free */
static _Atomic size_t ss_mapped;

/* The heads and the count are peeked at without the lock, so they are
 * written with HAK_RELAXED_SET. */
static pthread_mutex_t abandon_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hak_slab *abandoned[HAK_NCLASSES];
static size_t abandoned_count;

/* The lock's sections hold the decay's start (decay.c): releasing a slab
 * may start the purger thread, and pthread_create allocates, possibly
 * reaching adopt(). */
static void abandon_take(void)
{
    _hak_decay_hold();
    pthread_mutex_lock(&abandon_lock);
}

static bool abandon_trytake(void)
{
    _hak_decay_hold();
    if (pthread_mutex_trylock(&abandon_lock) == 0)
        return true;
    _hak_decay_release();
    return false;
}

static void abandon_drop(void)
{
    pthread_mutex_unlock(&abandon_lock);
    _hak_decay_release();
}

/* Blocks returned by threads that have no counters of their own (not yet
 * initialised, or past their exit destructor). */
static _Atomic uint64_t stateless_in;

/* ------------------------------------------------------------------ pool */

/* ss off list l, if it is on it. */
static void ss_list_remove(enum hak_ss_list l, struct hak_superslab *ss)
{
    struct hak_ss_link *k = &ss->link[l];
    if (!k->on)
        return;
    if (k->prev)
        k->prev->link[l].next = k->next;
    else
        ss_head[l] = k->next;
    if (k->next)
        k->next->link[l].prev = k->prev;
    *k = (struct hak_ss_link){0};
}

/* ss to the front of list l. */
static void ss_list_front(enum hak_ss_list l, struct hak_superslab *ss)
{
    if (ss_head[l] == ss)
        return;
    ss_list_remove(l, ss);
    ss->link[l] = (struct hak_ss_link){.next = ss_head[l], .on = true};
    if (ss_head[l])
        ss_head[l]->link[l].prev = ss;
    ss_head[l] = ss;
}

/* On the warm list exactly while it has a dirty free slab; to its front
 * when it has just freed one. */
static void warm_update(struct hak_superslab *ss, bool freed)
{
    if (ss->dirty_mask == 0)
        ss_list_remove(HAK_SS_WARM, ss);
    else if (freed || !ss->link[HAK_SS_WARM].on)
        ss_list_front(HAK_SS_WARM, ss);
}

/* Called with pool_lock held: off every list it may be on, the warm one
 * too (emptied with no decay, it may still hold slabs left dirty while
 * there was one, if the decay was changed since: the tests do). */
static void ss_destroy_locked(struct hak_superslab *ss)
{
    for (enum hak_ss_list l = 0; l < HAK_SS_LISTS; l++)
        ss_list_remove(l, ss);
}

/* No pusher may still look at a descriptor of ss (remote_push): a push
 * counts itself before its CAS, so a slab emptied by its blocks shows it
 * here until it is done. */
static bool ss_unwatched(struct hak_superslab *ss)
{
    for (unsigned i = 0; i < HAK_SLABS_PER_SS; i++)
        if (atomic_load_explicit(&_hak_ss_slab(ss, i)->xpushers, memory_order_acquire) != 0)
            return false;
    return true;
}

static void ss_destroy(struct hak_superslab *ss)
{
    _hak_map_clear(ss, HAK_SS_SIZE);
    ss->magic = 0;
    HAK_BACKEND->release(ss, HAK_SS_SIZE);
    atomic_fetch_sub_explicit(&ss_mapped, 1, memory_order_relaxed);
}

static struct hak_slab *pool_take_locked(void)
{
    /* A slab whose pages are still resident first: no fault to refill. */
    struct hak_superslab *ss = ss_head[HAK_SS_WARM] ? ss_head[HAK_SS_WARM] : ss_head[HAK_SS_POOL];
    if (ss == NULL)
        return NULL;
    if (ss->free_mask == SS_ALL_FREE)
        pool_empty--;
    unsigned idx = (unsigned)__builtin_ctz(ss->dirty_mask ? ss->dirty_mask : ss->free_mask);
    ss->free_mask &= ~(1u << idx);
    ss->dirty_mask &= ~(1u << idx);
    warm_update(ss, false);
    if (ss->free_mask == 0)
        ss_list_remove(HAK_SS_POOL, ss);
    return _hak_ss_slab(ss, idx);
}

/* Maps a SuperSlab and takes a slab for the caller: the new SuperSlab
 * joins the list of all and the pool, and gives its slab, in one section
 * of the pool lock, so no purge or heap check sees it on one list and not
 * the other. Returns a slab of the pool (not necessarily of the new
 * SuperSlab: a resident one first). */
static struct hak_slab *ss_create(void)
{
    struct hak_superslab *ss = _hak_map_reserve(HAK_SS_SIZE, HAK_SS_SIZE, 0, HAK_CHUNK_SS);
    if (ss == NULL)
        return NULL;
    /* Under valgrind all but the header is NOACCESS until handed out. */
    hak_track_mem_noaccess((char *)ss + sizeof *ss, HAK_SS_SIZE - sizeof *ss);
    ss->magic = HAK_SS_MAGIC;
    ss->free_mask = SS_ALL_FREE;
    for (unsigned i = 0; i < HAK_SLABS_PER_SS; i++)
        _hak_ss_slab(ss, i)->index = (uint16_t)i;
    atomic_fetch_add_explicit(&ss_mapped, 1, memory_order_relaxed);
    pthread_mutex_lock(&pool_lock);
    ss_list_front(HAK_SS_ALL, ss);
    ss_list_front(HAK_SS_POOL, ss);
    pool_empty++;
    struct hak_slab *s = pool_take_locked();
    pthread_mutex_unlock(&pool_lock);
    return s;
}

static void sweep_abandoned(void);

/* A free slab from the pool, or NULL: the caller may map more. */
static struct hak_slab *pool_acquire(void)
{
    pthread_mutex_lock(&pool_lock);
    struct hak_slab *s = pool_take_locked();
    pthread_mutex_unlock(&pool_lock);
    if (s != NULL)
        return s;
    /* About to map more: first give back what exited threads left empty. */
    sweep_abandoned();
    pthread_mutex_lock(&pool_lock);
    s = pool_take_locked();
    pthread_mutex_unlock(&pool_lock);
    return s;
}

/* s has been free since freed_ms. Returns the bytes given back to the
 * backend. */
static size_t pool_release_since(struct hak_slab *s, uint64_t freed_ms)
{
    struct hak_superslab *ss = _hak_ss_of(s);
    bool kick = false;
    pthread_mutex_lock(&pool_lock);
    /* Under the lock with the bitmap: the heap check, which holds it,
     * sees the slab free in both or in neither (a spare the purger moves
     * is the purger's, not its thread's, to change). */
    atomic_store_explicit(&s->xowner, 0, memory_order_relaxed);
    atomic_store_explicit(&s->xowner_t, NULL, memory_order_relaxed);
    s->list = HAK_SLAB_NONE;
    s->in_use = 0;
    s->capacity = 0;            /* every free into it now fails the block check */
    ss->free_mask |= 1u << s->index;
    /* A freed slab stays resident for the decay, however many others do:
     * the next slab handed out is a resident one, so what waits never
     * raises the peak, and a program that frees and allocates in waves
     * does not fault its pages in again each wave. */
    if (_hak_opt.decay_ms == 0) {
        HAK_BACKEND->decommit(_hak_slab_start(s), HAK_SLAB_SIZE);
    } else {
        s->freed_ms = freed_ms;
        ss->dirty_mask |= 1u << s->index;
        warm_update(ss, true);
        kick = true;
    }
    /* To the front: with no decay, the one most likely in the cache. */
    ss_list_front(HAK_SS_POOL, ss);
    if (ss->free_mask == SS_ALL_FREE) {
        /* Wholly free: unmapped by the decay, or now if there is none. */
        if (_hak_opt.decay_ms == 0 && pool_empty >= HAK_SS_KEEP_EMPTY && ss_unwatched(ss)) {
            ss_destroy_locked(ss);
            pthread_mutex_unlock(&pool_lock);
            ss_destroy(ss);
            return HAK_SS_SIZE;
        }
        pool_empty++;
    }
    pthread_mutex_unlock(&pool_lock);
    if (kick)
        _hak_decay_kick();
    return 0;
}

static size_t pool_release(struct hak_slab *s)
{
    return pool_release_since(s, _hak_opt.decay_ms != 0 ? _hak_now_ms() : 0);
}

/* ------------------------------------------------------------ heap lock */

/* Drepper's mutex ("Futexes Are Tricky", mutex2) with one waiter at
 * most: the holder that finds 2 on unlocking wakes it. */
void _hak_heap_lock_wait(struct hak_thread *t)
{
    while (atomic_exchange_explicit(&t->heap_lock, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, &t->heap_lock, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void _hak_heap_unlock_borrowed(struct hak_thread *t)
{
    if (atomic_exchange_explicit(&t->heap_lock, 0, memory_order_release) == 2)
        syscall(SYS_futex, &t->heap_lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    _hak_decay_release();
}

/* ----------------------------------------------------------------- spares */

/* A thread keeps the slabs it empties, up to its spare_max, for its next
 * slab of any class: taking one back costs no pool lock, writes no
 * SuperSlab header (other threads' slabs share it), and finds the pages
 * in this core's cache. A program that works in phases empties and
 * refills a set of slabs per phase, and with two threads the pool lock and
 * the headers were what it waited on. A spare is in a pool slab's state
 * (no owner, no capacity: a free into it fails the block check) but on
 * its thread's list, under its heap lock, so only plans with cache tiers
 * keep spares, and not with a decay of 0, which frees a slab's pages at
 * once. The purger moves a spare that has waited a whole decay to the
 * pool, whose purge then gives its pages back; so do the thread's exit
 * and its trims. */
static void slab_retire(struct hak_thread *t, struct hak_slab *s)
{
    HAK_RELAXED_ADD(t->ctr.slabs_released, 1);
    if (t->nspare >= t->spare_max) {
        pool_release(s);
        return;
    }
    atomic_store_explicit(&s->xowner, 0, memory_order_relaxed);
    atomic_store_explicit(&s->xowner_t, NULL, memory_order_relaxed);
    s->list = HAK_SLAB_SPARE;
    s->in_use = 0;
    s->capacity = 0;
    s->freed_ms = _hak_now_ms();
    s->next = t->spare;
    t->spare = s;
    HAK_RELAXED_SET(t->nspare, t->nspare + 1);
    _hak_decay_kick();
}

static struct hak_slab *spare_take(struct hak_thread *t)
{
    struct hak_slab *s = t->spare;
    if (s != NULL) {
        t->spare = s->next;
        HAK_RELAXED_SET(t->nspare, t->nspare - 1);
        s->next = NULL;
        s->list = HAK_SLAB_NONE;
    }
    return s;
}

/* t's spares that have waited a whole decay (all: every one) to the pool,
 * still counting from when t emptied them. Returns the bytes given back
 * to the backend. */
static size_t spares_drop(struct hak_thread *t, bool all, uint64_t now)
{
    size_t bytes = 0;
    for (struct hak_slab **p = &t->spare, *s; (s = *p) != NULL;) {
        /* Signed: a spare retired after the caller read the clock. */
        if (!all && (int64_t)(now - s->freed_ms) < (int64_t)_hak_opt.decay_ms) {
            p = &s->next;
            continue;
        }
        *p = s->next;
        s->next = NULL;
        HAK_RELAXED_SET(t->nspare, t->nspare - 1);
        bytes += pool_release_since(s, s->freed_ms);
    }
    return bytes;
}

/* Another thread's spare, for one about to map a new SuperSlab: a spare
 * is its thread's only while the pool serves the others. Under reg_lock,
 * so only a trylock (the caller's own lock fails it: it takes its own
 * spares without one). */
static void spare_steal(struct hak_thread *o, void *arg)
{
    struct hak_slab **got = arg;
    if (*got != NULL || HAK_RELAXED_GET(o->nspare) == 0 || !_hak_heap_trylock(o))
        return;
    *got = spare_take(o);
    _hak_heap_unlock_borrowed(o);
}

/* A free slab for t: its own spare, the pool's, another thread's spare,
 * or a new SuperSlab's. A state that keeps no spares (the orphan heap,
 * whose lock comes after reg_lock) looks at no other thread's. */
static struct hak_slab *slab_acquire(struct hak_thread *t)
{
    struct hak_slab *s = spare_take(t);
    if (s != NULL || (s = pool_acquire()) != NULL)
        return s;
    if (t->spare_max != 0)
        _hak_thread_each(spare_steal, &s);
    return s != NULL ? s : ss_create();
}

uint32_t _hak_ss_spare_max(void)
{
    return HAK_HEAP_LOCKED && _hak_opt.decay_ms != 0 ? HAK_SPARE_MAX : 0;
}

/* ------------------------------------------------------------------ slabs */

static void slab_format(struct hak_slab *s, unsigned cls, struct hak_thread *owner)
{
    size_t bs = hak_class_size(cls);
    char *start = _hak_slab_start(s);
    s->cls = (uint8_t)cls;
    s->div_inv = _hak_class_div[cls].inv;
    s->div_shift = (uint8_t)_hak_class_div[cls].shift;
    s->block_size = (uint32_t)bs;
    s->capacity = (uint32_t)(HAK_SLAB_SIZE / bs);
    s->bump = start;
    s->free = NULL;
    s->used = 0;
    s->remote_seen = false;
    s->list = HAK_SLAB_NONE;
    s->next = s->prev = s->abandoned_next = s->abandoned_prev = NULL;
    atomic_store_explicit(&s->xused_hint, 0, memory_order_relaxed);
    s->in_use = 1;
    atomic_store_explicit(&s->xremote, 0, memory_order_relaxed);
    atomic_store_explicit(&s->xowner_t, owner, memory_order_relaxed);
    atomic_store_explicit(&s->xowner, owner->id, memory_order_release);
}

/* Moves the remote queue to the local free list; returns blocks moved.
 * The usual drain finds the local list empty and takes the queue as it
 * is: no block is read, so a block another core freed stays in that
 * core's cache until the owner hands it out. */
static uint32_t slab_drain(struct hak_slab *s)
{
    if (atomic_load_explicit(&s->xremote, memory_order_relaxed) == 0)
        return 0;
    uintptr_t x = atomic_exchange_explicit(&s->xremote, 0, memory_order_acquire);
    void *head = _hak_remote_head(x);
    uint32_t n = _hak_remote_len(x);
    if (s->free != NULL) {
        void *tail = head;
        for (void *next; (next = _hak_link_get(tail)) != NULL;)
            tail = next;
        _hak_link_set(tail, s->free);
    }
    s->free = head;
    s->used -= n;
    s->remote_seen = true;
    HAK_TRACE(_hak_tls, HAK_EV_DRAIN, s->cls, head);
    HAK_DEBUG(_hak_debug_slab_check("drain", s));
    return n;
}

/* Cuts up to one page's worth of fresh blocks (at least one) onto the free
 * list, so the pages of a slab are touched only as they are needed. */
static bool slab_carve(struct hak_slab *s)
{
    char *end = _hak_slab_end(s);
    if (s->bump >= end)
        return false;
    size_t bs = s->block_size;
    size_t n = bs >= HAK_PAGE_SIZE ? 1 : HAK_PAGE_SIZE / bs;
    size_t left = (size_t)(end - s->bump) / bs;
    if (n > left)
        n = left;
    char *b = s->bump;
    for (size_t i = 0; i + 1 < n; i++, b += bs)
        _hak_link_set(b, b + bs);
    _hak_link_set(b, s->free);
    s->free = s->bump;
    s->bump = b + bs;
    HAK_DEBUG(_hak_debug_slab_check("refill", s));
    return true;
}

static struct hak_slab **list_head(struct hak_thread *t, struct hak_slab *s)
{
    return s->list == HAK_SLAB_FULL ? &t->ss[s->cls].full : &t->ss[s->cls].partial;
}

static void list_push(struct hak_thread *t, struct hak_slab *s, enum hak_slab_list which)
{
    s->list = (uint8_t)which;
    if (which == HAK_SLAB_FULL) {
        struct hak_ss_class *c = &t->ss[s->cls];
        if (HAK_HEAP_LOCKED) {
            /* Publish, then look (a pusher pushes, then looks): a remote
             * free racing with the move is noted by one side or both. */
            atomic_store_explicit(&s->xused_hint, s->used, memory_order_seq_cst);
            if (atomic_load_explicit(&s->xremote, memory_order_seq_cst) != 0)
                atomic_fetch_or_explicit(&t->xfull_remote, (uint64_t)1 << s->cls,
                                         memory_order_relaxed);
        }
        s->next = NULL;
        s->prev = c->full_tail;
        if (c->full_tail)
            c->full_tail->next = s;
        else
            c->full = s;
        c->full_tail = s;
        return;
    }
    struct hak_slab **head = list_head(t, s);
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void slab_unlink(struct hak_thread *t, struct hak_slab *s)
{
    if (s->list == HAK_SLAB_CUR) {
        t->ss[s->cls].cur = NULL;
    } else if (s->list != HAK_SLAB_NONE) {
        struct hak_slab **head = list_head(t, s);
        if (s->prev)
            s->prev->next = s->next;
        else
            *head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        else if (s->list == HAK_SLAB_FULL)
            t->ss[s->cls].full_tail = s->prev;
        if (HAK_HEAP_LOCKED && s->list == HAK_SLAB_FULL)
            atomic_store_explicit(&s->xused_hint, 0, memory_order_relaxed);
    }
    s->next = s->prev = NULL;
    s->list = HAK_SLAB_NONE;
}

static void slab_make_cur(struct hak_thread *t, struct hak_slab *s)
{
    t->ss[s->cls].cur = s;
    s->list = HAK_SLAB_CUR;
}

/* ------------------------------------------------------------ abandoning */

/* Takes s off its abandoned list (under abandon_lock). */
static struct hak_slab *abandoned_unlink(struct hak_slab *s)
{
    if (s->abandoned_prev != NULL)
        s->abandoned_prev->abandoned_next = s->abandoned_next;
    else
        HAK_RELAXED_SET(abandoned[s->cls], s->abandoned_next);
    if (s->abandoned_next != NULL)
        s->abandoned_next->abandoned_prev = s->abandoned_prev;
    HAK_RELAXED_SET(abandoned_count, abandoned_count - 1);
    s->abandoned_next = s->abandoned_prev = NULL;
    atomic_store_explicit(&s->xused_hint, 0, memory_order_relaxed);
    return s;
}

/* Drains s, abandoned, under abandon_lock: gives it back if that emptied
 * it (returns bytes released to the OS; t, if active, counts the slab),
 * else refreshes the copy of used its pushers read (returns SIZE_MAX). */
static size_t abandoned_settle(struct hak_thread *t, struct hak_slab *s)
{
    slab_drain(s);
    if (s->used != 0) {
        atomic_store_explicit(&s->xused_hint, s->used, memory_order_relaxed);
        return SIZE_MAX;
    }
    if (t != NULL && t->state == HAK_THREAD_ACTIVE)
        HAK_RELAXED_ADD(t->ctr.slabs_released, 1);
    return pool_release(abandoned_unlink(s));
}

/* Under the lock, so that to its holder a slab with blocks out (one a
 * pusher holds, say) has no owner exactly while it is on the list. */
static void slab_abandon_locked(struct hak_thread *t, struct hak_slab *s)
{
    atomic_store_explicit(&s->xowner_t, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->xowner, 0, memory_order_release);
    struct hak_slab *head = abandoned[s->cls];
    s->abandoned_next = head;
    s->abandoned_prev = NULL;
    if (head != NULL)
        head->abandoned_prev = s;
    HAK_RELAXED_SET(abandoned[s->cls], s);
    HAK_RELAXED_ADD(abandoned_count, 1);
    /* Blocks pushed since the owner's last drain, before the copy of used
     * was there for their pushers to check. */
    abandoned_settle(t, s);
}

static void slab_abandon(struct hak_thread *t, struct hak_slab *s)
{
    abandon_take();
    slab_abandon_locked(t, s);
    abandon_drop();
}

/* A pusher's blocks head..tail (n of them) are the last of abandoned s
 * out: it takes the lock and, if s is still abandoned, acts as its owner,
 * putting them on the free list and giving the slab back. False if s was
 * adopted meanwhile: the caller pushes them on the remote queue. */
static bool abandoned_reap(struct hak_thread *t, struct hak_slab *s, void *head, void *tail,
                           uint32_t n, bool track)
{
    abandon_take();
    bool mine = atomic_load_explicit(&s->xowner, memory_order_relaxed) == 0;
    if (mine) {
        _hak_link_set_if(track, tail, s->free);
        s->free = head;
        s->used -= n;
        abandoned_settle(t, s);
    }
    abandon_drop();
    return mine;
}

/* The same for a full slab of a live owner o, whose heap lock the pusher
 * takes only if it is free: o's own thread never waits long for it. With
 * the lock, xowner still naming o means o still owns s (o's exit takes the
 * lock too), and o's lists are the pusher's to change. A slab that turns
 * out not to be empty (the count it read was stale) is drained onto the
 * partial list, where o finds the blocks without a scan. */
static bool owned_reclaim(struct hak_thread *t, struct hak_thread *o, struct hak_slab *s,
                          void *head, void *tail, uint32_t n, bool track)
{
    if (!HAK_HEAP_LOCKED || !_hak_heap_trylock(o))
        return false;
    bool mine = atomic_load_explicit(&s->xowner, memory_order_relaxed) == o->id &&
                s->list == HAK_SLAB_FULL;
    if (mine) {
        slab_unlink(o, s);
        slab_drain(s);
        _hak_link_set_if(track, tail, s->free);
        s->free = head;
        s->used -= n;
        if (s->used == 0) {
            if (t->state == HAK_THREAD_ACTIVE)
                HAK_RELAXED_ADD(t->ctr.slabs_released, 1);
            pool_release(s);
        } else {
            list_push(o, s, HAK_SLAB_PARTIAL);
        }
    }
    _hak_heap_unlock_borrowed(o);
    return mine;
}

/* Half the blocks out of s, a full slab of a live owner, are back in its
 * queue: the pusher, if it gets the owner's heap lock and the abandoned
 * list's lock at once (the owner never waits on it for long), moves s to
 * the abandoned list, as if its owner had exited. An owner that allocates
 * no more of the class (a thread that built a structure others now free
 * and rebuild) would otherwise keep a slab of holes for each of its full
 * ones until their last block came back; from the list, the next thread
 * that needs a slab of the class (the owner too) adopts it and fills
 * the holes. */
static HAK_NOINLINE void full_orphan(struct hak_thread *t, struct hak_slab *s)
{
    struct hak_thread *o = atomic_load_explicit(&s->xowner_t, memory_order_relaxed);
    if (o == NULL || !_hak_heap_trylock(o))
        return;
    /* Still o's, full, and half back: s may have been given back and
     * formatted again since the pusher looked. */
    if (atomic_load_explicit(&s->xowner, memory_order_relaxed) == o->id &&
        s->list == HAK_SLAB_FULL &&
        2 * (uint64_t)_hak_remote_len(atomic_load_explicit(&s->xremote, memory_order_relaxed)) >=
            s->used &&
        abandon_trytake()) {
        slab_unlink(o, s);
        slab_abandon_locked(t, s);
        abandon_drop();
    }
    _hak_heap_unlock_borrowed(o);
}

static HAK_NOINLINE bool last_blocks_back(struct hak_thread *t, struct hak_slab *s, void *head,
                                          void *tail, uint32_t n, bool track)
{
    struct hak_thread *o = atomic_load_explicit(&s->xowner_t, memory_order_relaxed);
    return o == NULL ? abandoned_reap(t, s, head, tail, n, track)
                     : owned_reclaim(t, o, s, head, tail, n, track);
}

/* Abandoned slabs of a class looked at per adoption. */
#define ADOPT_SCAN 8

/* Takes the abandoned slab of cls with the most blocks back in its remote
 * queue among the first ADOPT_SCAN (its queue length is exact, and used
 * is stable under the lock), so a thread fills the holes others' frees
 * left rather than a slab still nearly full; those found wholly free on the
 * way go back to the pool. */
static struct hak_slab *adopt(struct hak_thread *t, unsigned cls)
{
    if (HAK_RELAXED_GET(abandoned[cls]) == NULL) /* a peek; the lock decides */
        return NULL;
    abandon_take();
    struct hak_slab *best = NULL, *s = abandoned[cls], *next;
    uint32_t best_len = 0;
    for (unsigned i = 0; i < ADOPT_SCAN && s != NULL; i++, s = next) {
        next = s->abandoned_next;
        uint32_t len = _hak_remote_len(atomic_load_explicit(&s->xremote, memory_order_relaxed));
        if (len == s->used) {
            /* Every block out of it is in its queue: the drain empties it. */
            abandoned_settle(t, s);
            continue;
        }
        if (best == NULL || len > best_len) {
            best = s;
            best_len = len;
        }
    }
    s = best != NULL ? abandoned_unlink(best) : NULL;
    if (s != NULL) {
        atomic_store_explicit(&s->xowner, t->id, memory_order_release);
        atomic_store_explicit(&s->xowner_t, t, memory_order_relaxed);
    }
    abandon_drop();
    if (s == NULL)
        return NULL;
    HAK_TRACE(t, HAK_EV_ADOPT, s->cls, s);
    slab_drain(s);
    HAK_RELAXED_ADD(t->ctr.adoptions, 1);
    return s;
}

/* Releases every abandoned slab that remote frees have emptied. */
static size_t sweep_abandoned_locked(void)
{
    size_t released = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        for (struct hak_slab *s = abandoned[cls], *next; s != NULL; s = next) {
            next = s->abandoned_next;
            size_t bytes = abandoned_settle(NULL, s);
            if (bytes != SIZE_MAX)
                released += bytes;
        }
    }
    return released;
}

static void sweep_abandoned(void)
{
    if (HAK_RELAXED_GET(abandoned_count) == 0) /* a peek; the lock decides */
        return;
    abandon_take();
    sweep_abandoned_locked();
    abandon_drop();
}

/* ------------------------------------------------------------ tier ops */

/* Full slabs looked at per slab exhaustion, and at most before the thread
 * grows by a new slab. The first keeps blocks freed by other threads from
 * piling up in remote queues (they count as used until drained); the
 * second keeps a thread from growing while old slabs hold free blocks,
 * without making a thread that builds a huge structure (many full slabs,
 * no frees) rescan all of it for every new slab. */
#define SCAN_STEP 8
#define SCAN_MAX 256

/* Looks at up to budget full slabs, oldest first, and drains those with
 * remote frees: those they gave blocks move to the partial list, those
 * they emptied go back to the pool (one is kept if nothing else has room),
 * so a thread holds slabs for what it has live now, not for its peak in
 * each class, and emptied slabs serve every class and thread. The slabs
 * looked at with nothing back go to the end of the line, as they are.
 * Returns a slab with room (partial first), or NULL. */
static struct hak_slab *scan_full(struct hak_thread *t, unsigned cls, unsigned budget)
{
    struct hak_ss_class *c = &t->ss[cls];
    struct hak_slab *empty = NULL, *s, *next;
    unsigned i = 0;
    for (s = c->full; s != NULL && i < budget; s = next, i++) {
        next = s->next;
        if (atomic_load_explicit(&s->xremote, memory_order_relaxed) == 0)
            continue;
        slab_unlink(t, s);
        slab_drain(s);
        if (s->used != 0) {
            list_push(t, s, HAK_SLAB_PARTIAL);
        } else if (empty == NULL) {
            empty = s;
        } else {
            slab_retire(t, s);
        }
    }
    if (s != NULL && s != c->full) {
        /* The slabs before s were looked at: s heads the list, they end it. */
        struct hak_slab *head = c->full, *seen = s->prev;
        seen->next = NULL;
        s->prev = NULL;
        c->full_tail->next = head;
        head->prev = c->full_tail;
        c->full = s;
        c->full_tail = seen;
    }
    if ((s = c->partial) != NULL) {
        slab_unlink(t, s);
        if (empty != NULL)
            slab_retire(t, empty);
        return s;
    }
    return empty;
}

/* The longer scan, before the thread grows by a slab: in a plan with cache
 * tiers only when a remote free has reached a full slab of the class since
 * the last one (remote_push notes it), so a thread that builds a large
 * structure does not walk its full slabs for every new one. */
static struct hak_slab *scan_full_noted(struct hak_thread *t, unsigned cls)
{
    if (HAK_HEAP_LOCKED) {
        uint64_t bit = (uint64_t)1 << cls;
        if (!(atomic_load_explicit(&t->xfull_remote, memory_order_relaxed) & bit))
            return NULL;
        atomic_fetch_and_explicit(&t->xfull_remote, ~bit, memory_order_acquire);
    }
    return scan_full(t, cls, SCAN_MAX);
}

/* cls's cur, if any, is spent: it goes to the full list, and another slab
 * becomes cur. false: none could be had (out of memory). */
static bool next_slab(struct hak_thread *t, unsigned cls)
{
    struct hak_slab *s = t->ss[cls].cur;
    if (s != NULL) {
        slab_unlink(t, s);
        list_push(t, s, HAK_SLAB_FULL);
    }
    if ((s = scan_full(t, cls, SCAN_STEP)) == NULL && (s = scan_full_noted(t, cls)) == NULL &&
        (s = adopt(t, cls)) == NULL) {
        if ((s = slab_acquire(t)) == NULL)
            return false;
        slab_format(s, cls, t);
        HAK_RELAXED_ADD(t->ctr.slabs_acquired, 1);
    }
    slab_make_cur(t, s);
    return true;
}

static void *pop_slow(struct hak_thread *t, unsigned cls)
{
    _hak_ss_run_flush(t);
    for (;;) {
        struct hak_slab *s = t->ss[cls].cur;
        if (s != NULL && (s->free != NULL || slab_drain(s) > 0 || slab_carve(s))) {
            void *b = s->free;
            void *next = _hak_link_get(b);
            HAK_DEBUG(_hak_debug_check_link("malloc", cls, next));
            s->free = next;
            s->used++;
            HAK_RELAXED_ADD(t->ctr.out, 1);
            return b;
        }
        if (!next_slab(t, cls))
            return NULL;
    }
}

/* Holds the decay's start for the whole call: pthread_create allocates,
 * and an allocation re-entering this function while a slab is between
 * lists (the class's cur taken, the new one not yet set) would leave a
 * slab on no list at all. */
void *_hak_ss_pop_slow(struct hak_thread *t, unsigned cls)
{
    _hak_decay_hold();
    void *b = pop_slow(t, cls);
    _hak_decay_release();
    return b;
}

/* For the batch refills, whose cur is spent: as a slow pop does, puts the
 * thread's remote runs on their queues and moves on to another slab, but
 * takes no block, so a fresh slab's first refill is carved whole. */
static bool refill_next_slab(struct hak_thread *t, unsigned cls)
{
    _hak_decay_hold();
    _hak_ss_run_flush(t);
    bool ok = next_slab(t, cls);
    _hak_decay_release();
    return ok;
}

/* s, full, has blocks on its remote queue (cls: its class, as read before
 * the push, since s may be reused by now): its owner, if it has one, is
 * told (a stale owner state is only ever recycled, never freed, and a
 * note in it costs its next thread one scan). */
static void note_full_remote(struct hak_slab *s, unsigned cls)
{
    struct hak_thread *o = atomic_load_explicit(&s->xowner_t, memory_order_relaxed);
    uint64_t bit = (uint64_t)1 << cls;
    if (o != NULL && !(atomic_load_explicit(&o->xfull_remote, memory_order_relaxed) & bit))
        atomic_fetch_or_explicit(&o->xfull_remote, bit, memory_order_release);
}

/* Pushes the chain head..tail (n blocks of s, linked but for tail) on s's
 * remote queue with one CAS. */
HAK_INLINE void remote_push(struct hak_thread *t, struct hak_slab *s, void *head, void *tail,
                            uint32_t n, bool track)
{
    /* Before the CAS: after it the owner may drain, release and reuse s,
     * and format it for another class. */
    unsigned cls = s->cls;
    HAK_TRACE(t, HAK_EV_REMOTE_PUSH, cls, head);
    uintptr_t old = atomic_load_explicit(&s->xremote, memory_order_relaxed), x;
    if (hak_unlikely(_hak_remote_len(old) + n ==
                     atomic_load_explicit(&s->xused_hint, memory_order_relaxed)) &&
        last_blocks_back(t, s, head, tail, n, track))
        return;
    /* From the CAS on, the owner may drain s and give it back, and its
     * SuperSlab may be wholly free: counted here, this push keeps it
     * mapped until it looks at s for the last time (ss_unwatched). The
     * CAS publishes the count; without cache tiers nothing looks after
     * it. */
    if (HAK_HEAP_LOCKED)
        atomic_fetch_add_explicit(&s->xpushers, 1, memory_order_relaxed);
    do {
        _hak_link_set_if(track, tail, _hak_remote_head(old));
        x = (uintptr_t)head + ((uintptr_t)(_hak_remote_len(old) + n) << HAK_REMOTE_SHIFT);
    } while (!atomic_compare_exchange_weak_explicit(&s->xremote, &old, x, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* On its owner's full list: tell the owner to look (scan_full_noted),
     * or, once half its blocks are back, hand it to whoever needs it. */
    if (HAK_HEAP_LOCKED) {
        uint32_t hint = atomic_load_explicit(&s->xused_hint, memory_order_seq_cst);
        if (hint != 0) {
            note_full_remote(s, cls);
            if (hak_unlikely(2 * (uint64_t)_hak_remote_len(x) >= hint))
                full_orphan(t, s);
        }
        atomic_fetch_sub_explicit(&s->xpushers, 1, memory_order_release);
    }
}

/* n blocks came back to slabs t, an active thread, does not own. */
HAK_INLINE void count_remote_active(struct hak_thread *t, uint32_t n)
{
    HAK_RELAXED_ADD(t->ctr.in, n);
    HAK_RELAXED_ADD(t->ctr.remote_pushes, n);
}

/* n blocks came back to slabs t does not own. */
static void count_remote(struct hak_thread *t, uint32_t n)
{
    if (hak_likely(t->state == HAK_THREAD_ACTIVE)) {
        count_remote_active(t, n);
    } else {
        atomic_fetch_add_explicit(&stateless_in, n, memory_order_relaxed);
    }
}

/* A run holds at most this many blocks: the owner gets them back soon even
 * from a thread that frees a whole slab's worth in a row. A run that took
 * no block in the thread's last RUN_MAX remote frees goes too (run_add). */
#define RUN_MAX 64

/* A run leaves t before its push: a push that gives a slab back may
 * start the purger thread when it drops its lock, and pthread_create
 * allocates, reaching pop_slow, which flushes t's runs: the same blocks
 * would go back twice. */
static void run_flush_one(struct hak_thread *t, unsigned i)
{
    struct hak_remote_run r = t->run[i];
    t->run[i] = (struct hak_remote_run){0};
    t->run_mask &= ~(1u << i);
    remote_push(t, r.slab, r.head, r.tail, r.n, false);
}

void _hak_ss_run_flush(struct hak_thread *t)
{
    while (t->run_mask != 0)
        run_flush_one(t, (unsigned)__builtin_ctz(t->run_mask));
}

/* b of s, which t (an active thread) does not own, joins s's run, and is
 * counted (count_remote). Runs
 * are kept per slab, several at once: a thread that frees blocks of
 * several sizes in turn (of several slabs) still queues each slab's
 * blocks with one push, not one per block. The flush may re-enter the
 * allocator (above), so the run is looked at again after it. */
static void run_add(struct hak_thread *t, struct hak_slab *s, void *b)
{
    count_remote(t, 1);
    unsigned i = _hak_run_slot(b);
    struct hak_remote_run *r = &t->run[i];
    while (r->n != 0 && (r->slab != s || r->n == RUN_MAX))
        run_flush_one(t, i);
    if (r->n == 0) {
        r->slab = s;
        r->tail = b;
        t->run_mask |= 1u << i;
    } else {
        *(void **)b = r->head;
    }
    r->head = b;
    r->n++;
    r->seen = ++t->run_tick;
    /* A consumer frees a producer's blocks in bursts, a batch at a time,
     * each of a few slabs; a run its burst is over for waited for another
     * slab to come to its slot, and held a slab's worth of 1 KiB blocks
     * from their owner, which took fresh slabs meanwhile (bench/xthread,
     * 1 KiB: 99 slabs at the peak, 69 with this). run_mask is read
     * afresh at each step: a flush may re-enter the allocator (above). */
    if (t->run_tick % RUN_MAX == 0) {
        for (unsigned j = 0; j < HAK_RUNS; j++)
            if ((t->run_mask >> j & 1) && t->run_tick - t->run[j].seen >= RUN_MAX)
                run_flush_one(t, j);
    }
}

/* run_add's common case, which calls nothing: b joins the run of s its
 * slot holds, which has room (1 <= n < RUN_MAX), and no look for stale
 * runs is due. A consumer thread frees nearly every block this way. */
HAK_INLINE bool run_join(struct hak_thread *t, struct hak_slab *s, void *b)
{
    struct hak_remote_run *r = &t->run[_hak_run_slot(b)];
    uint32_t tick = t->run_tick + 1;
    if (r->slab != s || r->n - 1u >= RUN_MAX - 1u || tick % RUN_MAX == 0)
        return false;
    *(void **)b = r->head;
    r->head = b;
    r->n++;
    r->seen = tick;
    t->run_tick = tick;
    count_remote_active(t, 1);
    return true;
}

/* run_add in a held section (a caller may hold none): its flushes may
 * give a slab back, which may start the purger (run_flush_one). */
static HAK_NOINLINE void run_add_held(struct hak_thread *t, struct hak_slab *s, void *b)
{
    _hak_decay_hold();
    run_add(t, s, b);
    _hak_decay_release();
}

void _hak_ss_free_remote(struct hak_thread *t, struct hak_slab *s, void *b)
{
    if (!run_join(t, s, b))
        run_add_held(t, s, b);
}

/* n blocks of s, which t owns, linked head..tail: onto its free list in
 * one splice, and s onto the list its count now calls for. */
HAK_INLINE void owned_give(struct hak_thread *t, struct hak_slab *s, void *head, void *tail,
                           uint32_t n, bool track)
{
    _hak_link_set_if(track, tail, s->free);
    s->free = head;
    s->used -= n;
    HAK_RELAXED_ADD(t->ctr.in, n);
    if (s->list == HAK_SLAB_FULL) {
        slab_unlink(t, s);
        list_push(t, s, HAK_SLAB_PARTIAL);
    }
    if (s->used == 0 && s->list != HAK_SLAB_CUR) {
        slab_unlink(t, s);
        slab_retire(t, s);
    }
}

/* The body of _hak_ss_push_slow, instantiated without and with the
 * valgrind annotations (track is a constant in each): the plain one runs
 * on every free the inline push cannot take (a remote free, a slab that
 * changes lists), and has no hook. */
HAK_INLINE void push_slow(struct hak_thread *t, struct hak_slab *s, void *b, bool track)
{
    if (_hak_ss_owns(t, s)) {
        owned_give(t, s, b, b, 1, track);
        return;
    }
    if (!track && t->state == HAK_THREAD_ACTIVE) {
        _hak_ss_free_remote(t, s, b);
        return;
    }
    count_remote(t, 1);
    remote_push(t, s, b, b, 1, track);
}

static HAK_NOINLINE void push_slow_tracked(struct hak_thread *t, struct hak_slab *s, void *b)
{
    push_slow(t, s, b, true);
}

void _hak_ss_push_slow(struct hak_thread *t, struct hak_slab *s, void *b)
{
    if (HAK_TRACK_ON)
        push_slow_tracked(t, s, b);
    else
        push_slow(t, s, b, false);
}

/* Takes up to n blocks of s's free list to out; returns how many. The
 * counts stay consistent (a drain checks them next). */
static size_t free_take(struct hak_slab *s, void **out, size_t n)
{
    size_t k = 0;
    void *b = s->free;
    for (; k < n && b != NULL; k++) {
        out[k] = b;
        b = *(void **)b;
        HAK_DEBUG(_hak_debug_check_link("malloc", s->cls, b));
    }
    s->free = b;
    s->used += (uint32_t)k;
    return k;
}

/* A refill that took `freed` blocks off s's free list and queue ends with
 * them, carving none, if other threads give s's blocks back (a
 * producer's slab): topped up from the uncarved area, the refills touched
 * fresh pages while more blocks were on their way back, and carved a
 * producer's slabs whole. A slab only its owner frees into tops up. */
static bool refill_stops(const struct hak_slab *s, size_t freed)
{
    return freed != 0 && s->remote_seen;
}

/* Takes up to n blocks of s (t's, not tracked): its free list first, then
 * what other threads gave back, then, unless refill_stops (*stop), its
 * uncarved area, whose blocks go out unlinked: a refill writes no fresh
 * page, the program does when it gets the block. */
static size_t slab_take(struct hak_thread *t, struct hak_slab *s, void **out, size_t n,
                        bool *stop)
{
    size_t k = free_take(s, out, n);
    if (k < n && slab_drain(s) > 0)
        k += free_take(s, out + k, n - k);
    size_t listed = k;
    *stop = refill_stops(s, listed);
    char *bump = s->bump, *end = *stop ? bump : _hak_slab_end(s);
    for (size_t bs = s->block_size; k < n && bump < end; k++, bump += bs)
        out[k] = bump;
    s->bump = bump;
    s->used += (uint32_t)(k - listed);
    HAK_RELAXED_ADD(t->ctr.out, k);
    return k;
}

/* Appends a prefix (up to n blocks, found by walking) of s's free list to
 * the chain *first..*last (empty: *last NULL); returns its length. The
 * counts stay consistent, as in free_take. */
static size_t free_take_chain(struct hak_slab *s, size_t n, void **first, void **last)
{
    void *b = s->free, *end = b;
    if (b == NULL)
        return 0;
    size_t k = 1;
    for (; k < n; k++) {
        void *next = *(void **)end;
        HAK_DEBUG(_hak_debug_check_link("malloc", s->cls, next));
        if (next == NULL)
            break;
        end = next;
    }
    s->free = *(void **)end;
    s->used += (uint32_t)k;
    if (*last != NULL)
        *(void **)*last = b;
    else
        *first = b;
    *last = end;
    return k;
}

/* A chain refill links the blocks it carves, so it faults their pages in
 * at once, and every block it brings counts toward its class's peak until
 * the program frees more of the class than it allocates. A class whose
 * count walks at random (bench/random_mixed) reaches each new high
 * through a refill that carves: with whole batches there, each class held
 * up to a batch of fresh blocks above its high, and random_mixed peaked
 * at 5.2 MiB against 4.7. So a refill carves a page's worth from a slab,
 * and twice as much at each refill of the class that carves again within
 * HAK_CARVE_TICKS of the thread's slow paths without finding a freed
 * block, up to a slab: a class that grows fast (a program building a
 * structure, bench/rounds' phases) is back at whole batches after four
 * refills. The bound is per slab: a refill whose slab runs out moves on
 * and may carve as much again from the next. *stop is set when the bound
 * cut the refill short, which ends it. */
#define CARVE_SHIFT_MAX 4

static size_t carve_bound(struct hak_thread *t, const struct hak_slab *s, size_t freed,
                          size_t carve, bool *stop)
{
    struct hak_ss_carve *c = &t->carve[s->cls];
    if (freed != 0 || t->idle.tick - c->tick > HAK_CARVE_TICKS)
        c->shift = 0;
    if (carve == 0)
        return 0;
    c->tick = t->idle.tick;
    size_t max = (HAK_PAGE_SIZE << c->shift) / s->block_size;
    if (max == 0)
        max = 1;
    if (carve <= max)
        return carve;
    *stop = true;
    if (freed == 0 && c->shift < CARVE_SHIFT_MAX)
        c->shift++;
    return max;
}

/* Blocks of s never carved. */
static size_t uncarved(const struct hak_slab *s)
{
    uint32_t carved = (uint32_t)(s->bump - _hak_slab_start(s));
    return s->capacity - hak_block_index(s->div_inv, s->div_shift, carved);
}

/* Blocks on s's free list: every block carved is out (used) or on it. */
static uint32_t free_len(const struct hak_slab *s)
{
    return s->capacity - (uint32_t)uncarved(s) - s->used;
}

/* Up to n blocks of s (t's, not tracked) as a chain, as slab_take
 * chooses them, but that carve_bound bounds the uncarved blocks, which
 * are linked as they go. When rest is not NULL
 * and s's whole free list fits, it is taken whole and unwalked, as *rest
 * (NULL-terminated, after *head..*tail): its links are lines the threads
 * that gave the blocks back wrote last, and a walk here would wait on
 * each in turn, where the allocations that take them overlap the waits
 * with the program's work. */
static size_t slab_take_chain(struct hak_thread *t, struct hak_slab *s, size_t n, void **head,
                              void **tail, void **rest, bool *stop)
{
    void *first = NULL, *last = NULL;
    size_t k = 0;
    if (rest != NULL) {
        if (s->free == NULL)
            slab_drain(s);
        HAK_DEBUG(_hak_debug_slab_check("malloc", s));
        uint32_t len = free_len(s);
        if (len != 0 && len <= n) {
            *rest = s->free;
            s->free = NULL;
            s->used += len;
            k = len;
        }
    }
    if (k == 0) {
        k = free_take_chain(s, n, &first, &last);
        if (k < n && slab_drain(s) > 0)
            k += free_take_chain(s, n - k, &first, &last);
    }
    *stop = refill_stops(s, k);
    size_t carve = *stop ? 0 : uncarved(s);
    if (carve > n - k)
        carve = n - k;
    carve = carve_bound(t, s, k, carve, stop);
    if (carve != 0) {
        /* Counted first, then linked in a loop of one store: a program
         * that works in phases carves most of its blocks anew in each
         * (bench/rounds), and a loop that tested the bounds and the empty
         * chain at each block took 11 instructions a block, this one 5. */
        size_t bs = s->block_size;
        char *b = s->bump;
        if (last != NULL)
            *(void **)last = b;
        else
            first = b;
        for (size_t i = 1; i < carve; i++, b += bs)
            *(void **)b = b + bs;
        last = b;
        s->bump = b + bs;
        s->used += (uint32_t)carve;
        k += carve;
    }
    HAK_RELAXED_ADD(t->ctr.out, k);
    *head = first;
    *tail = last;
    return k;
}

size_t _hak_ss_pop_chain(struct hak_thread *t, unsigned cls, size_t n, void **head, void **tail)
{
    size_t k = 0;
    void *first = NULL, *last = NULL, *rest = NULL;
    _hak_heap_lock(t);
    while (k < n) {
        struct hak_slab *s = t->ss[cls].cur;
        void *h = NULL, *tl = NULL;
        bool stop = false;
        size_t got =
            s != NULL ? slab_take_chain(t, s, n - k, &h, &tl, rest ? NULL : &rest, &stop) : 0;
        if (got == 0) {
            if (!refill_next_slab(t, cls))
                break;
            continue;
        }
        if (h != NULL) {
            if (last != NULL)
                *(void **)last = h;
            else
                first = h;
            last = tl;
        }
        k += got;
        if (stop)                       /* slab_take says why */
            break;
    }
    _hak_heap_unlock(t);
    /* An unwalked list goes last: only its end is NULL. */
    if (rest != NULL) {
        if (last != NULL)
            *(void **)last = rest;
        else
            first = rest;
        last = NULL;
    }
    *head = first;
    *tail = last;
    return k;
}

size_t _hak_ss_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n)
{
    size_t k = 0;
    _hak_heap_lock(t);
    while (k < n) {
        struct hak_slab *s = t->ss[cls].cur;
        if (!HAK_TRACK_ON) {
            bool stop = false;
            size_t got = s != NULL ? slab_take(t, s, out + k, n - k, &stop) : 0;
            k += got;
            if (stop)                   /* slab_take says why */
                break;
            if (got == 0 && !refill_next_slab(t, cls))
                break;
            continue;
        }
        /* Under valgrind every block is a tracked slow pop. */
        void *b = _hak_ss_pop_slow(t, cls);
        if (b == NULL)
            break;
        out[k++] = b;
    }
    _hak_heap_unlock(t);
    return k;
}

/* Blocks of one slab usually come in runs (a cache gives back what one
 * thread allocated in a row): each run goes onto its slab's free list in
 * one splice, or on its remote queue with one CAS, not one per block.
 * The chain may go on past its n blocks (a list tier's spill, stack.c):
 * the n-th block's link, returned, is read before the block is given (a
 * line the give writes anyway); for a chain whose tail was known, that
 * link is unused and the value means nothing. */
void *_hak_ss_push_chain(struct hak_thread *t, void *head, size_t n)
{
    _hak_heap_lock(t);
    void *b = head;
    while (n > 0) {
        /* Slabs are aligned to their size: one slab is one value of
         * address >> HAK_SLAB_SHIFT, which costs less than the descriptor. */
        uintptr_t slab_bits = (uintptr_t)b >> HAK_SLAB_SHIFT;
        void *first = b, *last = b, *next = NULL;
        size_t m = 1;
        for (; m < n; m++) {
            next = *(void **)last;
            if ((uintptr_t)next >> HAK_SLAB_SHIFT != slab_bits)
                break;
            last = next;
        }
        n -= m;
        b = n > 0 ? next : *(void **)last;
        struct hak_slab *s = _hak_slab_of(first);
        if (_hak_ss_owns(t, s)) {
            owned_give(t, s, first, last, (uint32_t)m, false);
        } else {
            remote_push(t, s, first, last, (uint32_t)m, false);
            count_remote(t, (uint32_t)m);
        }
    }
    _hak_heap_unlock(t);
    return b;
}

void _hak_ss_push_batch(struct hak_thread *t, void **in, size_t n)
{
    if (HAK_TRACK_ON) {
        _hak_heap_lock(t);
        for (size_t i = 0; i < n; i++)
            _hak_ss_push(t, in[i]);
        _hak_heap_unlock(t);
        return;
    }
    if (n == 0)
        return;
    for (size_t i = 0; i + 1 < n; i++)
        *(void **)in[i] = in[i + 1];
    _hak_ss_push_chain(t, in[0], n);
}

/* Drains s; gives it back if empty (returns bytes released to the OS, or
 * SIZE_MAX if s is still in use). */
static size_t slab_settle(struct hak_thread *t, struct hak_slab *s)
{
    slab_drain(s);
    if (s->used != 0)
        return SIZE_MAX;
    slab_unlink(t, s);
    HAK_RELAXED_ADD(t->ctr.slabs_released, 1);
    return pool_release(s);
}

static void for_each_slab(struct hak_thread *t, void (*fn)(struct hak_thread *, struct hak_slab *))
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_ss_class *c = &t->ss[cls];
        struct hak_slab *lists[2] = {c->partial, c->full};
        if (c->cur)
            fn(t, c->cur);
        for (int i = 0; i < 2; i++) {
            for (struct hak_slab *s = lists[i], *next; s != NULL; s = next) {
                next = s->next;
                fn(t, s);
            }
        }
    }
}

static void exit_slab(struct hak_thread *t, struct hak_slab *s)
{
    if (slab_settle(t, s) == SIZE_MAX) {
        slab_unlink(t, s);
        slab_abandon(t, s);
    }
}

void _hak_ss_thread_exit(struct hak_thread *t)
{
    _hak_ss_run_flush(t);
    _hak_heap_lock(t);
    for_each_slab(t, exit_slab);
    spares_drop(t, true, 0);
    _hak_heap_unlock(t);
}

/* Another class may need the slab before this one comes back: a program
 * that works in phases, each on its own sizes, would otherwise keep a
 * current slab resident for every class it has ever used. It is
 * retired: a spare for the thread's next class, or back to the pool. */
void _hak_ss_idle(struct hak_thread *t, unsigned cls)
{
    /* Only t changes its cur and used: the look needs no lock. */
    struct hak_slab *s = t->ss[cls].cur;
    if (s == NULL ||
        s->used != _hak_remote_len(atomic_load_explicit(&s->xremote, memory_order_relaxed)))
        return;
    _hak_heap_lock(t);
    slab_drain(s);
    if (s->used == 0) {
        slab_unlink(t, s);
        slab_retire(t, s);
    }
    _hak_heap_unlock(t);
}

static size_t trim_bytes;
static void trim_slab(struct hak_thread *t, struct hak_slab *s)
{
    size_t r = slab_settle(t, s);
    if (r != SIZE_MAX) {
        trim_bytes += r;
    } else if (s->list == HAK_SLAB_FULL && s->free != NULL) {
        /* The drain gave it free blocks: off the full list, whose slabs
         * publish a used count this one no longer has. */
        slab_unlink(t, s);
        list_push(t, s, HAK_SLAB_PARTIAL);
    }
}

size_t _hak_ss_trim(struct hak_thread *t)
{
    if (t != NULL) {
        _hak_ss_run_flush(t);
        _hak_heap_lock(t);
    }
    abandon_take();
    trim_bytes = sweep_abandoned_locked();
    if (t != NULL) {
        for_each_slab(t, trim_slab);
        trim_bytes += spares_drop(t, true, 0);
    }
    size_t r = trim_bytes;
    abandon_drop();
    if (t != NULL)
        _hak_heap_unlock(t);
    return r;
}

void _hak_ss_stats(size_t *superslabs, size_t *mapped, uint64_t *stateless)
{
    *superslabs = atomic_load_explicit(&ss_mapped, memory_order_relaxed);
    *mapped = *superslabs * HAK_SS_SIZE;
    *stateless = atomic_load_explicit(&stateless_in, memory_order_relaxed);
}

void _hak_ss_fork_prepare(void)
{
    pthread_mutex_lock(&abandon_lock);
    pthread_mutex_lock(&pool_lock);
}

void _hak_ss_fork_parent(void)
{
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&abandon_lock);
}

void _hak_ss_fork_child(void)
{
    /* A push another thread was in the middle of never ends here. */
    for (struct hak_superslab *ss = ss_head[HAK_SS_ALL]; ss != NULL; ss = ss->link[HAK_SS_ALL].next)
        for (unsigned i = 0; i < HAK_SLABS_PER_SS; i++)
            atomic_store_explicit(&_hak_ss_slab(ss, i)->xpushers, 0, memory_order_relaxed);
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&abandon_lock);
}

/* ------------------------------------------------------------ vtable */

static void *ss_op_pop(struct hak_thread *t, unsigned cls)
{
    void *b;
    return _hak_ss_pop_batch(t, cls, &b, 1) == 1 ? b : NULL;
}

static bool ss_op_push(struct hak_thread *t, unsigned cls, void *b)
{
    (void)cls;
    _hak_ss_push_batch(t, &b, 1);
    return true;
}

static size_t ss_op_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    (void)cls;
    _hak_ss_push_batch(t, in, n);
    return n;
}

static size_t ss_op_push_chain(struct hak_thread *t, unsigned cls, void **head, void *tail,
                               size_t n)
{
    (void)cls;
    (void)tail;
    _hak_ss_push_chain(t, *head, n);
    *head = NULL;
    return n;
}

static size_t ss_op_none(struct hak_thread *t, unsigned cls)
{
    (void)t;
    (void)cls;
    return 0;
}

static void ss_op_flush(struct hak_thread *t, hak_sink_fn below)
{
    (void)t;
    (void)below;
}

static uint64_t ss_op_cached(const struct hak_thread *t)
{
    (void)t;
    return 0;
}

static void ss_op_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    (void)t;
    (void)cls;
    *out = (struct hak_tier_stats){0};
}

static void ss_op_thread_init(struct hak_thread *t) { (void)t; }

const struct hak_tier_ops _hak_superslab_ops = {
    .name = "superslab",
    .pop = ss_op_pop,
    .push = ss_op_push,
    .pop_batch = _hak_ss_pop_batch,
    .push_batch = ss_op_push_batch,
    .push_chain = ss_op_push_chain,
    .pop_chain = _hak_ss_pop_chain,
    .refill = ss_op_none,
    .spill = ss_op_none,
    .flush = ss_op_flush,
    .cached = ss_op_cached,
    .stats = ss_op_stats,
    .thread_init = ss_op_thread_init,
};

/* ------------------------------------------------------------ decay */

struct spare_purge {
    uint64_t now;
    bool all;
    size_t bytes;
};

/* A thread's own heap lock is held while reg_lock is waited for (fork),
 * so under reg_lock only a trylock: a busy thread's spares wait for the
 * next purge. */
static void spares_purge(struct hak_thread *t, void *arg)
{
    struct spare_purge *p = arg;
    if (HAK_RELAXED_GET(t->nspare) != 0 && _hak_heap_trylock(t)) {
        p->bytes += spares_drop(t, p->all, p->now);
        _hak_heap_unlock_borrowed(t);
    }
}

static void spares_count(struct hak_thread *t, void *arg)
{
    *(size_t *)arg += HAK_RELAXED_GET(t->nspare);
}

/* Moves the spares that have waited a whole decay to the pool,
 * decommits the free slabs that have been free for decay_ms, releases
 * abandoned slabs that remote frees emptied, and unmaps the wholly free
 * SuperSlabs so decommitted, but for HAK_SS_KEEP_EMPTY of them (with all:
 * every spare, every free slab, every such SuperSlab). Returns the bytes
 * given back. Slabs are decommitted under pool_lock: a slab being
 * decommitted cannot be handed out at the same time. */
size_t _hak_ss_purge(uint64_t now, bool all)
{
    /* A trylock: a purge may run under the orphan heap's locks (a failed
     * reservation's retry), which come after reg_lock. Spares it cannot
     * reach now wait for the next one. */
    struct spare_purge sp = {.now = now, .all = all};
    if (HAK_HEAP_LOCKED)
        _hak_thread_each_try(spares_purge, &sp);
    size_t bytes = sp.bytes;
    struct hak_superslab *doomed = NULL;
    abandon_take();
    bytes += sweep_abandoned_locked();
    abandon_drop();
    pthread_mutex_lock(&pool_lock);
    for (struct hak_superslab *ss = ss_head[HAK_SS_ALL], *next; ss != NULL; ss = next) {
        next = ss->link[HAK_SS_ALL].next;
        for (uint32_t m = ss->dirty_mask; m != 0; m &= m - 1) {
            unsigned i = (unsigned)__builtin_ctz(m);
            struct hak_slab *s = _hak_ss_slab(ss, i);
            if (!all && now - s->freed_ms < _hak_opt.decay_ms)
                continue;
            HAK_BACKEND->decommit(_hak_slab_start(s), HAK_SLAB_SIZE);
            ss->dirty_mask &= ~(1u << i);
            bytes += HAK_SLAB_SIZE;
        }
        warm_update(ss, false);
        /* Wholly free with every slab past its decay (or never used). */
        if (ss->free_mask == SS_ALL_FREE && ss->dirty_mask == 0 &&
            (all || pool_empty > HAK_SS_KEEP_EMPTY) && ss_unwatched(ss)) {
            pool_empty--;
            ss_destroy_locked(ss);
            /* Off every list now: its pool link threads the doomed. */
            ss->link[HAK_SS_POOL].next = doomed;
            doomed = ss;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    while (doomed != NULL) {
        struct hak_superslab *ss = doomed;
        doomed = ss->link[HAK_SS_POOL].next;
        ss_destroy(ss);
        bytes += HAK_SS_SIZE;
    }
    return bytes;
}

/* True while some free slab waits for its decay. */
bool _hak_ss_dirty(void)
{
    if (HAK_RELAXED_GET(abandoned_count) != 0)
        return true;
    size_t spares = 0;
    if (HAK_HEAP_LOCKED && (!_hak_thread_each_try(spares_count, &spares) || spares != 0))
        return true;
    pthread_mutex_lock(&pool_lock);
    bool dirty = ss_head[HAK_SS_WARM] != NULL;
    pthread_mutex_unlock(&pool_lock);
    return dirty;
}

/* ------------------------------------------------------------ inspection */

size_t _hak_ss_resident(void)
{
    unsigned char vec[HAK_SS_SIZE / HAK_PAGE_SIZE];
    size_t pages = 0;
    pthread_mutex_lock(&pool_lock);
    for (struct hak_superslab *ss = ss_head[HAK_SS_ALL]; ss != NULL;
         ss = ss->link[HAK_SS_ALL].next) {
        if (mincore(ss, HAK_SS_SIZE, vec) != 0)
            continue;
        for (size_t i = 0; i < sizeof vec; i++)
            pages += vec[i] & 1;
    }
    pthread_mutex_unlock(&pool_lock);
    return pages * HAK_PAGE_SIZE;
}

static int heap_problem(const struct hak_slab *s, const char *what)
{
    char num[24], hex[19];
    _hak_write_str("hakmem: heap check: slab ");
    _hak_write_str(_hak_hex(_hak_slab_start(s), hex));
    _hak_write_str(" (class ");
    _hak_write_str(_hak_utoa(s->cls, num));
    _hak_write_str("): ");
    _hak_write_str(what);
    _hak_write_str("\n");
    return 1;
}

/* Checks what can be checked of a slab without its owner's cooperation:
 * geometry, counts, and that every free-list link stays inside the slab
 * on a block boundary, without cycles. */
static int check_slab(const struct hak_slab *s)
{
    char *start = _hak_slab_start(s);
    if (s->cls >= HAK_NCLASSES || s->block_size != hak_class_size(s->cls))
        return heap_problem(s, "class and block size disagree");
    if (s->capacity != HAK_SLAB_SIZE / s->block_size)
        return heap_problem(s, "capacity is wrong for the class");
    if (s->bump < start || s->bump > _hak_slab_end(s) ||
        (size_t)(s->bump - start) % s->block_size != 0)
        return heap_problem(s, "bump pointer outside the slab or off a block boundary");
    size_t carved = (size_t)(s->bump - start) / s->block_size;
    if (s->used > carved)
        return heap_problem(s, "more blocks in use than were ever carved");
    size_t nfree = 0;
    for (const char *b = s->free; b != NULL; b = _hak_link_get(b)) {
        if (b < start || b >= s->bump || (size_t)(b - start) % s->block_size != 0)
            return heap_problem(s, "free-list link outside the carved blocks (overwritten?)");
        if (++nfree > carved)
            return heap_problem(s, "free list has a cycle");
    }
    if (s->used + nfree != carved)
        return heap_problem(s, "used + free != carved: a block is lost or counted twice");
    return 0;
}

HAK_EXPORT int hak_heap_check(void)
{
    int problems = 0;
    pthread_mutex_lock(&abandon_lock);
    pthread_mutex_lock(&pool_lock);
    for (struct hak_superslab *ss = ss_head[HAK_SS_ALL]; ss != NULL;
         ss = ss->link[HAK_SS_ALL].next) {
        if (ss->magic != HAK_SS_MAGIC) {
            _hak_write_str("hakmem: heap check: SuperSlab with a bad magic\n");
            problems++;
            continue;
        }
        if (_hak_map_lookup(ss) != ((uintptr_t)ss | HAK_CHUNK_SS)) {
            _hak_write_str("hakmem: heap check: SuperSlab missing from the chunk map\n");
            problems++;
        }
        if ((ss->dirty_mask & ~ss->free_mask) != 0 ||
            ss->link[HAK_SS_WARM].on != (ss->dirty_mask != 0) ||
            ss->link[HAK_SS_POOL].on != (ss->free_mask != 0)) {
            _hak_write_str("hakmem: heap check: SuperSlab on the wrong pool lists\n");
            problems++;
        }
        for (unsigned i = 1; i < HAK_SLABS_PER_SS; i++) {
            const struct hak_slab *s = _hak_ss_slab(ss, i);
            bool free_in_pool = (ss->free_mask >> i) & 1;
            if (!free_in_pool && !s->in_use && s->list == HAK_SLAB_SPARE)
                continue;       /* a thread's spare */
            if (free_in_pool == (bool)s->in_use) {
                problems += heap_problem(s, "pool bitmap and slab state disagree");
                continue;
            }
            if (s->in_use)
                problems += check_slab(s);
            else if (atomic_load_explicit(&s->xremote, memory_order_relaxed) != 0)
                problems += heap_problem(s, "a free slab has blocks in its remote queue");
        }
    }
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&abandon_lock);
    return problems;
}
