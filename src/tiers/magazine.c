/* hakmem: the magazine tier (invariants in magazine.h).
 *
 * Depot locks are per class and held only to move one magazine pointer;
 * fork takes them all in class order.
 */
#include "../internal.h"

#include <pthread.h>
#include <string.h>

#include "../tier.h"
#include "magazine_inline.h"

_Static_assert(sizeof(((struct hak_magazine_tls *)0)->c) / sizeof(struct hak_magazine_class) ==
                   HAK_NCLASSES,
               "one entry per class");

struct depot {
    pthread_mutex_t lock;
    struct hak_magazine *full, *empty;
    uint32_t nfull;
    uint64_t rounds;                    /* blocks in full magazines */
};

static struct depot depot[HAK_NCLASSES] = {
    [0 ... HAK_NCLASSES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER},
};

static struct hak_magazine *depot_take_full(unsigned cls)
{
    struct depot *d = &depot[cls];
    if (HAK_RELAXED_GET(d->full) == NULL) /* a peek; the lock decides */
        return NULL;
    pthread_mutex_lock(&d->lock);
    struct hak_magazine *m = d->full;
    if (m != NULL) {
        HAK_RELAXED_SET(d->full, m->next);
        d->nfull--;
        d->rounds -= m->n;
    }
    pthread_mutex_unlock(&d->lock);
    return m;
}

static bool depot_put_full(unsigned cls, struct hak_magazine *m)
{
    struct depot *d = &depot[cls];
    bool ok = false;
    if (_hak_opt.mag_depot == 0)        /* the default: no lock to learn it */
        return false;
    pthread_mutex_lock(&d->lock);
    if (d->nfull < _hak_opt.mag_depot) {
        m->next = d->full;
        HAK_RELAXED_SET(d->full, m);
        d->nfull++;
        d->rounds += m->n;
        ok = true;
    }
    pthread_mutex_unlock(&d->lock);
    return ok;
}

static void depot_put_empty(unsigned cls, struct hak_magazine *m)
{
    struct depot *d = &depot[cls];
    pthread_mutex_lock(&d->lock);
    m->next = d->empty;
    HAK_RELAXED_SET(d->empty, m);
    pthread_mutex_unlock(&d->lock);
}

static struct hak_magazine *get_empty(struct hak_thread *t, unsigned cls)
{
    struct depot *d = &depot[cls];
    struct hak_magazine *m = NULL;
    if (HAK_RELAXED_GET(d->empty) != NULL) { /* a peek; the lock decides */
        pthread_mutex_lock(&d->lock);
        m = d->empty;
        if (m != NULL)
            HAK_RELAXED_SET(d->empty, m->next);
        pthread_mutex_unlock(&d->lock);
    }
    if (m == NULL) {
        uint32_t cap = t->magazine.c[cls].cap;
        m = _hak_meta_alloc(sizeof *m + cap * sizeof(void *));
        if (m == NULL)
            return NULL;
        m->cap = cap;
    }
    m->next = NULL;
    HAK_RELAXED_SET(m->n, 0);
    return m;
}

static void swap(struct hak_magazine_class *c)
{
    struct hak_magazine *m = c->loaded;
    HAK_RELAXED_SET(c->loaded, c->prev);
    HAK_RELAXED_SET(c->prev, m);
}

/* Makes loaded non-empty: from prev, else a full magazine from the depot. */
static bool reload(struct hak_thread *t, unsigned cls)
{
    struct hak_magazine_class *c = &t->magazine.c[cls];
    if (c->cap == 0)
        return false;
    if (c->prev != NULL && c->prev->n > 0) {
        swap(c);
        return true;
    }
    struct hak_magazine *full = depot_take_full(cls);
    if (full == NULL)
        return false;
    if (c->prev != NULL)
        depot_put_empty(cls, c->prev);  /* prev is empty here */
    HAK_RELAXED_SET(c->prev, c->loaded);
    HAK_RELAXED_SET(c->loaded, full);
    return true;
}

/* Makes loaded non-full: prev if it has room, else hand a full magazine to
 * the depot and load an empty one. */
static bool make_room(struct hak_thread *t, unsigned cls)
{
    struct hak_magazine_class *c = &t->magazine.c[cls];
    if (c->cap == 0)
        return false;
    if (c->prev != NULL && c->prev->n < c->prev->cap) {
        swap(c);
        return true;
    }
    if (c->prev != NULL && c->loaded != NULL) {
        if (!depot_put_full(cls, c->prev))
            return false;
        HAK_RELAXED_SET(c->prev, NULL);
    }
    struct hak_magazine *m = get_empty(t, cls);
    if (m == NULL)
        return false;
    if (c->loaded != NULL)
        HAK_RELAXED_SET(c->prev, c->loaded);
    HAK_RELAXED_SET(c->loaded, m);
    return true;
}

static void *mag_pop(struct hak_thread *t, unsigned cls)
{
    void *b = _hak_magazine_pop_inline(t, cls);
    if (b == NULL && reload(t, cls))
        b = _hak_magazine_pop_inline(t, cls);
    return b;
}

static bool mag_push(struct hak_thread *t, unsigned cls, void *b)
{
    return _hak_magazine_push_inline(t, cls, b) ||
           (make_room(t, cls) && _hak_magazine_push_inline(t, cls, b));
}

/* The loaded magazine's top round, else prev's, which a pop would swap
 * in. Not the depot's, which a pop may take but a look must not. */
static void *mag_peek(const struct hak_thread *t, unsigned cls)
{
    const struct hak_magazine_class *c = &t->magazine.c[cls];
    const struct hak_magazine *m = c->loaded != NULL && c->loaded->n != 0 ? c->loaded : c->prev;
    return m != NULL && m->n != 0 ? m->round[m->n - 1] : NULL;
}

static size_t mag_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n)
{
    size_t k = 0;
    while (k < n) {
        struct hak_magazine *m = t->magazine.c[cls].loaded;
        if (m == NULL || m->n == 0) {
            if (!reload(t, cls))
                break;
            continue;
        }
        size_t take = m->n < n - k ? m->n : n - k;
        HAK_RELAXED_SET(m->n, m->n - (uint32_t)take);
        memcpy(out + k, m->round + m->n, take * sizeof(void *));
        k += take;
    }
    return k;
}

/* The loaded magazine, with room made if it is full; NULL if none can be
 * made. */
static struct hak_magazine *with_room(struct hak_thread *t, unsigned cls)
{
    struct hak_magazine *m = t->magazine.c[cls].loaded;
    while (m == NULL || m->n == m->cap) {
        if (!make_room(t, cls))
            return NULL;
        m = t->magazine.c[cls].loaded;
    }
    return m;
}

static size_t mag_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    size_t k = 0;
    struct hak_magazine *m;
    while (k < n && (m = with_room(t, cls)) != NULL) {
        size_t put = m->cap - m->n < n - k ? m->cap - m->n : n - k;
        memcpy(m->round + m->n, in + k, put * sizeof(void *));
        HAK_RELAXED_ADD(m->n, (uint32_t)put);
        k += put;
    }
    return k;
}

/* Walks the chain into the loaded magazine, only as far as it has room
 * (a full magazine that cannot make room refuses before any walk). */
static size_t mag_push_chain(struct hak_thread *t, unsigned cls, void **head, void *tail, size_t n)
{
    size_t k = 0;
    struct hak_magazine *m;
    while (k < n && (m = with_room(t, cls)) != NULL) {
        size_t put = m->cap - m->n < n - k ? m->cap - m->n : n - k;
        _hak_chain_to_array(head, tail, n - k, m->round + m->n, put);
        HAK_RELAXED_ADD(m->n, (uint32_t)put);
        k += put;
    }
    return k;
}

/* A miss fetches one magazine's worth from below. */
static size_t mag_refill(struct hak_thread *t, unsigned cls)
{
    struct hak_magazine_class *c = &t->magazine.c[cls];
    if (c->cap == 0)
        return 0;
    HAK_RELAXED_ADD(c->misses, 1);
    return c->cap;
}

/* The depot is at its bound: one magazine's worth goes down. */
static size_t mag_spill(struct hak_thread *t, unsigned cls)
{
    struct hak_magazine_class *c = &t->magazine.c[cls];
    if (c->cap == 0)
        return 0;
    HAK_RELAXED_ADD(c->spills, 1);
    return c->cap;
}

static void flush_magazine(struct hak_thread *t, unsigned cls, struct hak_magazine *m,
                           hak_sink_fn below)
{
    if (m == NULL)
        return;
    uint32_t n = m->n;
    HAK_RELAXED_SET(m->n, 0);
    if (n > 0)
        below(t, cls, m->round, n);
    depot_put_empty(cls, m);
}

static void mag_flush(struct hak_thread *t, hak_sink_fn below)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_magazine_class *c = &t->magazine.c[cls];
        struct hak_magazine *loaded = c->loaded, *prev = c->prev;
        HAK_RELAXED_SET(c->loaded, NULL);
        HAK_RELAXED_SET(c->prev, NULL);
        flush_magazine(t, cls, loaded, below);
        flush_magazine(t, cls, prev, below);
    }
}

static void mag_trim(struct hak_thread *t, hak_sink_fn below)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_magazine *m;
        while ((m = depot_take_full(cls)) != NULL)
            flush_magazine(t, cls, m, below);
    }
}

static uint64_t mag_cached(const struct hak_thread *t)
{
    uint64_t n = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        /* Magazines are never freed, so one that moved on since is still
         * safe to read (the count is then approximate, as any count of a
         * running thread is). */
        const struct hak_magazine_class *c = &t->magazine.c[cls];
        struct hak_magazine *loaded = HAK_RELAXED_GET(c->loaded), *prev = HAK_RELAXED_GET(c->prev);
        n += (loaded ? HAK_RELAXED_GET(loaded->n) : 0) + (prev ? HAK_RELAXED_GET(prev->n) : 0);
    }
    return n;
}

static uint64_t mag_shared_cached(void)
{
    uint64_t n = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        pthread_mutex_lock(&depot[cls].lock);
        n += depot[cls].rounds;
        pthread_mutex_unlock(&depot[cls].lock);
    }
    return n;
}

static void mag_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    const struct hak_magazine_class *c = &t->magazine.c[cls];
    uint64_t misses = HAK_RELAXED_GET(c->misses);
    *out = (struct hak_tier_stats){.hits = HAK_RELAXED_GET(c->hits), .misses = misses,
                                   .refills = misses, .spills = HAK_RELAXED_GET(c->spills)};
}

static void mag_thread_init(struct hak_thread *t)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        t->magazine.c[cls].cap = _hak_tier_cap(_hak_opt.mag_cap, hak_class_size(cls));
}

static void mag_fork(int phase)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        if (phase == HAK_FORK_PREPARE)
            pthread_mutex_lock(&depot[cls].lock);
        else
            pthread_mutex_unlock(&depot[cls].lock);
    }
}

const struct hak_tier_ops _hak_magazine_ops = {
    .name = "magazine",
    .pop = mag_pop,
    .push = mag_push,
    .pop_batch = mag_pop_batch,
    .peek = mag_peek,
    .push_batch = mag_push_batch,
    .push_chain = mag_push_chain,
    .refill = mag_refill,
    .spill = mag_spill,
    .flush = mag_flush,
    .cached = mag_cached,
    .stats = mag_stats,
    .thread_init = mag_thread_init,
    .shared_cached = mag_shared_cached,
    .trim = mag_trim,
    .fork = mag_fork,
};
