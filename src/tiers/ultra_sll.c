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
    _hak_link_open(t->ultra_sll.c[cls].head);
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
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    size_t k = 0;
    while (k < n && c->head != NULL) {
        out[k++] = c->head;
        c->head = _hak_link_get(c->head);
        HAK_DEBUG(_hak_debug_check_link("malloc", cls, c->head));
    }
    c->n -= (uint32_t)k;
    return k;
}

static size_t ultra_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    size_t k = 0;
    for (; k < n && c->n < c->cap; k++, c->n++) {
        _hak_link_set(in[k], c->head);
        c->head = in[k];
    }
    return k;
}

static size_t ultra_refill(struct hak_thread *t, unsigned cls)
{
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    c->misses++;
    return c->cap == 0 ? 0 : (c->cap + 1) / 2;
}

static size_t ultra_spill(struct hak_thread *t, unsigned cls)
{
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    if (c->cap == 0)
        return 0;
    c->spills++;
    return (c->cap + 1) / 2;
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
        n += t->ultra_sll.c[cls].n;
    return n;
}

static void ultra_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    const struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    *out = (struct hak_tier_stats){.hits = c->hits, .misses = c->misses, .refills = c->misses, .spills = c->spills};
}

static void ultra_thread_init(struct hak_thread *t)
{
    uint32_t knob = _hak_opt.ultra ? _hak_opt.ultra_cap : 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        t->ultra_sll.c[cls].cap = _hak_tier_cap(knob, hak_class_size(cls));
}

const struct hak_tier_ops _hak_ultra_sll_ops = {
    .name = "ultra-sll",
    .pop = ultra_pop,
    .push = ultra_push,
    .pop_batch = ultra_pop_batch,
    .push_batch = ultra_push_batch,
    .refill = ultra_refill,
    .spill = ultra_spill,
    .flush = ultra_flush,
    .cached = ultra_cached,
    .stats = ultra_stats,
    .thread_init = ultra_thread_init,
};
