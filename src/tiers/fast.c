/* hakmem: the fast tier (invariants in fast.h). */
#include "../internal.h"

#include <string.h>

#include "../tier.h"
#include "fast_inline.h"

_Static_assert(HAK_FAST_SLOTS == HAK_FAST_CAP_MAX, "slot array holds the largest cap");
_Static_assert(sizeof(((struct hak_fast_tls *)0)->c) / sizeof(struct hak_fast_class) ==
                   HAK_NCLASSES,
               "one entry per class");

static void *fast_pop(struct hak_thread *t, unsigned cls) { return _hak_fast_pop_inline(t, cls); }

static bool fast_push(struct hak_thread *t, unsigned cls, void *b)
{
    return _hak_fast_push_inline(t, cls, b);
}

static void *fast_peek(const struct hak_thread *t, unsigned cls)
{
    const struct hak_fast_class *c = &t->fast.c[cls];
    return c->n != 0 ? c->slot[c->n - 1] : NULL;
}

/* Oldest first: the blocks at the bottom of the array are the coldest. */
static size_t fast_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    if (n > c->n)
        n = c->n;
    memcpy(out, c->slot, n * sizeof(void *));
    memmove(c->slot, c->slot + n, (c->n - n) * sizeof(void *));
    HAK_RELAXED_SET(c->n, c->n - (uint32_t)n);
    return n;
}

static size_t fast_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    size_t room = c->cap - c->n;
    if (n > room)
        n = room;
    memcpy(c->slot + c->n, in, n * sizeof(void *));
    HAK_RELAXED_ADD(c->n, (uint32_t)n);
    return n;
}

static size_t fast_push_chain(struct hak_thread *t, unsigned cls, void **head, void *tail, size_t n)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    size_t room = c->cap - c->n, put = n < room ? n : room;
    _hak_chain_to_array(head, tail, n, c->slot + c->n, put);
    HAK_RELAXED_ADD(c->n, (uint32_t)put);
    return put;
}

/* Refill to half capacity: the next frees still find room. */
static size_t fast_refill(struct hak_thread *t, unsigned cls)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    HAK_RELAXED_ADD(c->misses, 1);
    return c->cap == 0 ? 0 : (c->cap + 1) / 2;
}

static size_t fast_spill(struct hak_thread *t, unsigned cls)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    if (c->cap == 0)
        return 0;
    HAK_RELAXED_ADD(c->spills, 1);
    return (c->cap + 1) / 2;
}

static void fast_flush(struct hak_thread *t, hak_sink_fn below)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_fast_class *c = &t->fast.c[cls];
        if (c->n == 0)
            continue;
        uint32_t n = c->n;
        HAK_RELAXED_SET(c->n, 0);
        below(t, cls, c->slot, n);
    }
}

static uint64_t fast_cached(const struct hak_thread *t)
{
    uint64_t n = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        n += HAK_RELAXED_GET(t->fast.c[cls].n);
    return n;
}

static void fast_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    const struct hak_fast_class *c = &t->fast.c[cls];
    uint64_t misses = HAK_RELAXED_GET(c->misses);
    *out = (struct hak_tier_stats){.hits = HAK_RELAXED_GET(c->hits), .misses = misses,
                                   .refills = misses, .spills = HAK_RELAXED_GET(c->spills)};
}

static void fast_thread_init(struct hak_thread *t)
{
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        t->fast.c[cls].cap = _hak_tier_cap(_hak_opt.fast_cap, hak_class_size(cls));
}

const struct hak_tier_ops _hak_fast_ops = {
    .name = "fast",
    .pop = fast_pop,
    .push = fast_push,
    .pop_batch = fast_pop_batch,
    .peek = fast_peek,
    .push_batch = fast_push_batch,
    .push_chain = fast_push_chain,
    .refill = fast_refill,
    .spill = fast_spill,
    .flush = fast_flush,
    .cached = fast_cached,
    .stats = fast_stats,
    .thread_init = fast_thread_init,
};
