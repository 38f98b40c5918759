/* hakmem: the ultra-sll tier (invariants in ultra_sll.h). */
#include "../internal.h"

#include "../tier.h"
#include "ultra_sll_inline.h"

_Static_assert(sizeof(((struct hak_ultra_sll_tls *)0)->c) / sizeof(struct hak_ultra_sll_class) ==
                   HAK_NCLASSES,
               "one entry per class");

/* The inline operations access links plainly; these also run under
 * valgrind, so the link word is opened around them (track.h). */
static void *ultra_pop(struct hak_thread *t, unsigned cls)
{
    _hak_link_open(t->ultra_sll.l[cls].head);
    void *b = _hak_ultra_sll_pop_inline(t, cls);
    _hak_link_close(b);
    return b;
}

static bool ultra_push(struct hak_thread *t, unsigned cls, void *b)
{
    _hak_link_open(b);
    bool ok = _hak_ultra_sll_push_inline(t, cls, b);
    _hak_link_close(b);
    return ok;
}

static size_t ultra_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n)
{
    return _hak_sll_pop_batch(&t->ultra_sll.l[cls], cls, out, n);
}

static size_t ultra_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    return _hak_sll_push_batch(&t->ultra_sll.l[cls], in, n);
}

static size_t ultra_push_chain(struct hak_thread *t, unsigned cls, void **head, void *tail,
                               size_t n)
{
    return _hak_sll_push_chain(&t->ultra_sll.l[cls], head, tail, n);
}

static void *ultra_peek(const struct hak_thread *t, unsigned cls)
{
    return _hak_sll_peek(&t->ultra_sll.l[cls]);
}

static size_t ultra_pop_chain(struct hak_thread *t, unsigned cls, size_t n, void **head,
                              void **tail)
{
    return _hak_sll_pop_chain(&t->ultra_sll.l[cls], n, head, tail);
}

static size_t ultra_refill(struct hak_thread *t, unsigned cls)
{
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    struct hak_sll *l = &t->ultra_sll.l[cls];
    HAK_RELAXED_ADD(c->misses, 1);
    return l->cap == 0 ? 0 : (l->cap + 1) / 2;
}

static size_t ultra_spill(struct hak_thread *t, unsigned cls)
{
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    struct hak_sll *l = &t->ultra_sll.l[cls];
    if (l->cap == 0)
        return 0;
    HAK_RELAXED_ADD(c->spills, 1);
    return (l->cap + 1) / 2;
}

static void ultra_flush(struct hak_thread *t, hak_sink_fn below)
{
    void *buf[HAK_BATCH_MAX];
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        size_t k;
        while ((k = ultra_pop_batch(t, cls, buf, HAK_BATCH_MAX)) > 0)
            below(t, cls, buf, k);
    }
}

static uint64_t ultra_cached(const struct hak_thread *t)
{
    uint64_t n = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        n += HAK_RELAXED_GET(t->ultra_sll.l[cls].n);
    return n;
}

static void ultra_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    const struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    uint64_t misses = HAK_RELAXED_GET(c->misses);
    *out = (struct hak_tier_stats){.hits = HAK_RELAXED_GET(c->hits), .misses = misses,
                                   .refills = misses, .spills = HAK_RELAXED_GET(c->spills)};
}

static void ultra_thread_init(struct hak_thread *t)
{
    uint32_t knob = _hak_opt.ultra ? _hak_opt.ultra_cap : 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        t->ultra_sll.l[cls].cap = _hak_tier_cap(knob, hak_class_size(cls));
}

const struct hak_tier_ops _hak_ultra_sll_ops = {
    .name = "ultra-sll",
    .pop = ultra_pop,
    .push = ultra_push,
    .pop_batch = ultra_pop_batch,
    .push_batch = ultra_push_batch,
    .push_chain = ultra_push_chain,
    .pop_chain = ultra_pop_chain,
    .peek = ultra_peek,
    .refill = ultra_refill,
    .spill = ultra_spill,
    .flush = ultra_flush,
    .cached = ultra_cached,
    .stats = ultra_stats,
    .thread_init = ultra_thread_init,
};
