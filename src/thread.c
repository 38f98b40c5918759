/* hakmem: per-thread state.
 *
 * Invariants:
 *   - _hak_tls of a thread points to _hak_thread_empty until the thread's
 *     first slow path, then to its own hak_thread (ACTIVE), and after its
 *     key destructor to thread_dead. The empty and dead states have every
 *     cache capacity at 0 and id HAK_ID_NONE, so their pops miss and their
 *     pushes go to remote queues: the hot path needs no state test.
 *   - A hak_thread is only ever addressed by its own thread and, under
 *     reg_lock, by the registry walkers (stats, the purger). The walkers
 *     read its counters and its tiers' counts with HAK_RELAXED_GET while
 *     it runs; those fields it writes with HAK_RELAXED_SET/ADD. The
 *     purger also empties its kept large spans (keep, through the Dekker
 *     pair of large.c) and, under its heap lock, its spares. After its
 *     destructor it is recycled, never unmapped.
 *   - A thread past its destructor allocates from the orphan heap, a
 *     hak_thread without caches shared under orphan_lock.
 *   - Under valgrind (HAK_TRACK_ON) _hak_tls stays at the empty thread, so
 *     every malloc and free misses on the fast path; the slow paths find
 *     the thread's own state in tracked_self (track.h).
 * Lock order: a thread's own heap lock, reg_lock, orphan_lock, the orphan
 * heap's lock (superslab.h).
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

#include "tier.h"

_Static_assert(HAK_PLAN_DEPTH <= 4, "exited_tier has a row per cache tier");

struct hak_thread _hak_thread_empty = {.id = HAK_ID_NONE, .state = HAK_THREAD_UNINIT};
static struct hak_thread thread_dead = {.id = HAK_ID_NONE, .state = HAK_THREAD_DEAD};
__thread struct hak_thread *_hak_tls HAK_TLS_MODEL = &_hak_thread_empty;
static __thread struct hak_thread *tracked_self HAK_TLS_MODEL;

/* Id 1 from the start: the orphan heap serves allocations made while hakmem
 * is still initialising. */
static struct hak_thread orphan = {.id = 1, .state = HAK_THREAD_ACTIVE};
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hak_thread *reg_head;             /* live threads */
static struct hak_thread *recycled;             /* exited, linked by reg_next */
static struct hak_ss_counters exited_ctr;       /* counters of exited threads */
static struct hak_tier_stats exited_tier[4][HAK_NCLASSES];

static void tier_stats_add(struct hak_tier_stats *to, const struct hak_tier_stats *from)
{
    to->hits += from->hits;
    to->misses += from->misses;
    to->refills += from->refills;
    to->spills += from->spills;
}

static _Atomic uint64_t next_id = 2;
static pthread_key_t exit_key;

/* from may be a live thread's, counting as this runs. */
static void ctr_add(struct hak_ss_counters *to, const struct hak_ss_counters *from)
{
    to->out += HAK_RELAXED_GET(from->out);
    to->in += HAK_RELAXED_GET(from->in);
    to->large_out += HAK_RELAXED_GET(from->large_out);
    to->large_in += HAK_RELAXED_GET(from->large_in);
    to->remote_pushes += HAK_RELAXED_GET(from->remote_pushes);
    to->adoptions += HAK_RELAXED_GET(from->adoptions);
    to->slabs_acquired += HAK_RELAXED_GET(from->slabs_acquired);
    to->slabs_released += HAK_RELAXED_GET(from->slabs_released);
}

static void thread_exit(void *arg)
{
    struct hak_thread *t = arg;
    _hak_tls = &thread_dead;
    tracked_self = NULL;
    _hak_stack_flush(t);
    _hak_ss_thread_exit(t);
    _hak_large_thread_exit(t);
    pthread_mutex_lock(&reg_lock);
    if (t->reg_prev)
        t->reg_prev->reg_next = t->reg_next;
    else
        reg_head = t->reg_next;
    if (t->reg_next)
        t->reg_next->reg_prev = t->reg_prev;
    ctr_add(&exited_ctr, &t->ctr);
    for (unsigned level = 0; level < _hak_plan_depth; level++) {
        for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
            struct hak_tier_stats ts;
            _hak_plan_ops[level]->stats(t, cls, &ts);
            tier_stats_add(&exited_tier[level][cls], &ts);
        }
    }
    t->state = HAK_THREAD_DEAD;
    t->reg_next = recycled;
    recycled = t;
    pthread_mutex_unlock(&reg_lock);
}

void _hak_thread_global_init(void)
{
    pthread_key_create(&exit_key, thread_exit);
}

static HAK_COLD struct hak_thread *thread_start(void)
{
    _hak_init();
    pthread_mutex_lock(&reg_lock);
    struct hak_thread *t = recycled;
    if (t != NULL)
        recycled = t->reg_next;
    pthread_mutex_unlock(&reg_lock);
    if (t == NULL) {
        if ((t = _hak_meta_alloc(sizeof *t)) == NULL)
            return NULL;
        atomic_init(&t->heap_lock, 0);
    }
    /* A thread giving back a slab of the previous user of t may hold the
     * heap lock or be about to read t->id under it. */
    _hak_heap_lock(t);
    memset(t, 0, offsetof(struct hak_thread, xfull_remote));
    atomic_store_explicit(&t->xfull_remote, 0, memory_order_relaxed);
    t->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    t->spare_max = _hak_ss_spare_max();
    t->keeps_span = true;
    for (unsigned level = 0; level < _hak_plan_depth; level++)
        _hak_plan_ops[level]->thread_init(t);
    t->state = HAK_THREAD_ACTIVE;
    _hak_heap_unlock(t);
    pthread_mutex_lock(&reg_lock);
    t->reg_prev = NULL;
    t->reg_next = reg_head;
    if (reg_head)
        reg_head->reg_prev = t;
    reg_head = t;
    pthread_mutex_unlock(&reg_lock);
    pthread_setspecific(exit_key, t);
    if (HAK_TRACK_ON)
        tracked_self = t;
    else
        _hak_tls = t;
    return t;
}

struct hak_thread *_hak_thread_get(bool *locked)
{
    struct hak_thread *t = _hak_tls;
    *locked = false;
    if (hak_likely(t->state == HAK_THREAD_ACTIVE))
        return t;
    if (HAK_TRACK_ON && tracked_self != NULL)
        return tracked_self;
    if (t->state == HAK_THREAD_UNINIT && _hak_init_state != 1) {
        t = thread_start();
        if (t != NULL)
            return t;
    }
    /* Exiting, initialising hakmem itself, or out of memory for state. */
    _hak_decay_hold();
    pthread_mutex_lock(&orphan_lock);
    *locked = true;
    return &orphan;
}

void _hak_orphan_unlock(void)
{
    pthread_mutex_unlock(&orphan_lock);
    _hak_decay_release();
}

void _hak_thread_sum(struct hak_ss_counters *ctr, uint64_t *cached, size_t *nthreads)
{
    *ctr = (struct hak_ss_counters){0};
    *cached = 0;
    *nthreads = 0;
    pthread_mutex_lock(&reg_lock);
    ctr_add(ctr, &exited_ctr);
    for (struct hak_thread *t = reg_head; t != NULL; t = t->reg_next) {
        ctr_add(ctr, &t->ctr);
        *cached += _hak_stack_cached(t);
        (*nthreads)++;
    }
    pthread_mutex_unlock(&reg_lock);
    pthread_mutex_lock(&orphan_lock);
    ctr_add(ctr, &orphan.ctr);
    pthread_mutex_unlock(&orphan_lock);
}

void _hak_thread_tier_stats(unsigned level, unsigned cls, struct hak_tier_stats *out)
{
    pthread_mutex_lock(&reg_lock);
    *out = exited_tier[level][cls];
    for (struct hak_thread *t = reg_head; t != NULL; t = t->reg_next) {
        struct hak_tier_stats ts;
        _hak_plan_ops[level]->stats(t, cls, &ts);
        tier_stats_add(out, &ts);
    }
    pthread_mutex_unlock(&reg_lock);
}

void _hak_thread_each_locked(void (*fn)(struct hak_thread *t, void *arg), void *arg)
{
    for (struct hak_thread *t = reg_head; t != NULL; t = t->reg_next)
        fn(t, arg);
}

/* Both hold the decay's start: fn may give a slab back, and a purger
 * started under reg_lock would allocate (pthread_create) with it held. */
void _hak_thread_locked(void (*fn)(void *arg), void *arg)
{
    _hak_decay_hold();
    pthread_mutex_lock(&reg_lock);
    fn(arg);
    pthread_mutex_unlock(&reg_lock);
    _hak_decay_release();
}

bool _hak_thread_locked_try(void (*fn)(void *arg), void *arg)
{
    _hak_decay_hold();
    bool got = pthread_mutex_trylock(&reg_lock) == 0;
    if (got) {
        fn(arg);
        pthread_mutex_unlock(&reg_lock);
    }
    _hak_decay_release();
    return got;
}

struct each {
    void (*fn)(struct hak_thread *t, void *arg);
    void *arg;
};

static void each(void *arg)
{
    struct each *e = arg;
    _hak_thread_each_locked(e->fn, e->arg);
}

void _hak_thread_each(void (*fn)(struct hak_thread *t, void *arg), void *arg)
{
    _hak_thread_locked(each, &(struct each){fn, arg});
}

bool _hak_thread_each_try(void (*fn)(struct hak_thread *t, void *arg), void *arg)
{
    return _hak_thread_locked_try(each, &(struct each){fn, arg});
}

size_t _hak_thread_trim(void)
{
    bool locked;
    struct hak_thread *t = _hak_thread_get(&locked);
    if (!locked)
        _hak_stack_trim(t);
    size_t r = _hak_ss_trim(t);
    if (locked)
        _hak_orphan_unlock();
    return r;
}

/* The heap locks the child will use: the forking thread's and the orphan
 * heap's (another thread giving back one of their slabs may hold one). */
static struct hak_thread *fork_self(void)
{
    struct hak_thread *t = HAK_TRACK_ON ? tracked_self : _hak_tls;
    return t != NULL && t->state == HAK_THREAD_ACTIVE ? t : NULL;
}

void _hak_thread_fork_prepare(void)
{
    struct hak_thread *self = fork_self();
    if (self != NULL)
        _hak_heap_lock(self);
    pthread_mutex_lock(&reg_lock);
    pthread_mutex_lock(&orphan_lock);
    _hak_heap_lock(&orphan);
}

static void fork_release(void)
{
    struct hak_thread *self = fork_self();
    _hak_heap_unlock(&orphan);
    pthread_mutex_unlock(&orphan_lock);
    pthread_mutex_unlock(&reg_lock);
    if (self != NULL)
        _hak_heap_unlock(self);
}

void _hak_thread_fork_parent(void) { fork_release(); }

/* A thread giving back a slab may have held the lock of a recycled state
 * (one it found through a stale owner, so it was changing nothing); in
 * the child no thread will release it, and the next thread_start would
 * wait on it forever. The live states' locks stay as they are: their
 * lists may be half changed, and no thread of the child uses them (the
 * purger may still take a free one, to move its spares). */
void _hak_thread_fork_child(void)
{
    for (struct hak_thread *t = recycled; t != NULL; t = t->reg_next)
        atomic_store_explicit(&t->heap_lock, 0, memory_order_relaxed);
    /* A live state whose lock was held at the fork stays locked here for
     * good: its spares, which no purge could reach (and which would keep
     * the purger waking), are forgotten, as its other slabs are. */
    struct hak_thread *self = fork_self();
    for (struct hak_thread *t = reg_head; t != NULL; t = t->reg_next) {
        if (t == self)
            continue;
        if (_hak_heap_trylock(t)) {
            _hak_heap_unlock_borrowed(t);
        } else {
            t->spare = NULL;
            t->nspare = 0;
        }
    }
    fork_release();
}
