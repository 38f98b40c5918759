/* hakmem: the tls-list tier (invariants in tls_list.h). */
#include "../internal.h"

#include "../tier.h"
#include "tls_list_inline.h"

_Static_assert(sizeof(((struct hak_tls_list_tls *)0)->c) / sizeof(struct hak_tls_list_class) ==
                   HAK_NCLASSES,
               "one entry per class");

/* The inline operations access links plainly; these also run under
 * valgrind, so the link word is opened around them (track.h). */
static void *tls_pop(struct hak_thread *t, unsigned cls)
{
    _hak_link_open(t->tls_list.l[cls].head);
    void *b = _hak_tls_list_pop_inline(t, cls);
    _hak_link_close(b);
    return b;
}

static bool tls_push(struct hak_thread *t, unsigned cls, void *b)
{
    _hak_link_open(b);
    bool ok = _hak_tls_list_push_inline(t, cls, b);
    _hak_link_close(b);
    return ok;
}

static size_t tls_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n)
{
    return _hak_sll_pop_batch(&t->tls_list.l[cls], cls, out, n);
}

static size_t tls_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    return _hak_sll_push_batch(&t->tls_list.l[cls], in, n);
}

static size_t tls_push_chain(struct hak_thread *t, unsigned cls, void **head, void *tail, size_t n)
{
    return _hak_sll_push_chain(&t->tls_list.l[cls], head, tail, n);
}

static void *tls_peek(const struct hak_thread *t, unsigned cls)
{
    return _hak_sll_peek(&t->tls_list.l[cls]);
}

static size_t tls_pop_chain(struct hak_thread *t, unsigned cls, size_t n, void **head, void **tail)
{
    return _hak_sll_pop_chain(&t->tls_list.l[cls], n, head, tail);
}

/* Doubles cls's cap within the bounds of tls_list.h, or leaves it. */
static void grow(struct hak_thread *t, unsigned cls)
{
    struct hak_sll *l = &t->tls_list.l[cls];
    uint64_t size = hak_class_size(cls);
    uint64_t max = HAK_TLS_GROW_CLASS / size < HAK_TLS_CAP_MAX ? HAK_TLS_GROW_CLASS / size
                                                                : HAK_TLS_CAP_MAX;
    uint64_t cap = (uint64_t)l->cap * 2 < max ? (uint64_t)l->cap * 2 : max;
    if (cap <= l->cap || t->tls_list.grown + (cap - l->cap) * size > HAK_TLS_GROW_THREAD)
        return;
    t->tls_list.grown += (cap - l->cap) * size;
    l->cap = (uint32_t)cap;
}

static void tls_idle(struct hak_thread *t, unsigned cls)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    struct hak_sll *l = &t->tls_list.l[cls];
    HAK_ASSERT(l->n == 0);
    t->tls_list.grown -= (uint64_t)(l->cap - c->base) * hak_class_size(cls);
    l->cap = c->base;
    c->batch = HAK_TLS_BATCH_MIN;
    c->spilled = false;
}

static size_t tls_refill(struct hak_thread *t, unsigned cls)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    struct hak_sll *l = &t->tls_list.l[cls];
    if (l->cap == 0)
        return 0;
    HAK_RELAXED_ADD(c->misses, 1);
    /* No more than it has room for (a class with a cap below the batch
     * minimum): the rest would only go back. */
    size_t want = c->batch < l->cap ? c->batch : l->cap;
    /* A batch of half the cap or more missed again, with a spill since
     * the cap last tried to grow: the class swings by more than the cap
     * (tls_list.h). */
    if (2 * (uint64_t)c->batch >= l->cap && c->spilled) {
        c->spilled = false;
        grow(t, cls);
    }
    uint32_t grown = c->batch * 2;
    c->batch = grown > l->cap ? (l->cap > HAK_TLS_BATCH_MIN ? l->cap : HAK_TLS_BATCH_MIN) : grown;
    return want;
}

static size_t tls_spill(struct hak_thread *t, unsigned cls)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    struct hak_sll *l = &t->tls_list.l[cls];
    if (l->cap == 0)
        return 0;
    HAK_RELAXED_ADD(c->spills, 1);
    c->spilled = true;
    /* Half the list goes, whatever the batch, up to the stack's
     * HAK_BATCH_MAX: a thread that frees a run of blocks then spills once
     * per cap/2 frees (128 at most), not once per batch (the batch is the
     * refill's to adapt; it shrinks here so the next refill takes less).
     * Unbounded, a program that swings by nearly the cap (a thousand
     * 1 KiB blocks, cap 1024) moved 512 blocks down and back a round, not
     * 128: gbench batch/count:1000/size:1024 ran at half the rate. */
    c->batch = c->batch / 2 < HAK_TLS_BATCH_MIN ? HAK_TLS_BATCH_MIN : c->batch / 2;
    return l->cap / 2 > HAK_TLS_BATCH_MIN ? l->cap / 2 : HAK_TLS_BATCH_MIN;
}

static void tls_flush(struct hak_thread *t, hak_sink_fn below)
{
    void *buf[HAK_BATCH_MAX];
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        size_t k;
        while ((k = tls_pop_batch(t, cls, buf, HAK_BATCH_MAX)) > 0)
            below(t, cls, buf, k);
    }
}

static uint64_t tls_cached(const struct hak_thread *t)
{
    uint64_t n = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        n += HAK_RELAXED_GET(t->tls_list.l[cls].n);
    return n;
}

static void tls_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    const struct hak_tls_list_class *c = &t->tls_list.c[cls];
    uint64_t misses = HAK_RELAXED_GET(c->misses);
    *out = (struct hak_tier_stats){.hits = HAK_RELAXED_GET(c->hits), .misses = misses,
                                   .refills = misses, .spills = HAK_RELAXED_GET(c->spills)};
}

static void tls_thread_init(struct hak_thread *t)
{
    uint32_t knob = _hak_opt.tls_list ? _hak_opt.tls_list_cap : 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_tls_list_class *c = &t->tls_list.c[cls];
        struct hak_sll *l = &t->tls_list.l[cls];
        l->cap = _hak_tier_cap(knob, hak_class_size(cls));
        c->base = l->cap;
        c->batch = HAK_TLS_BATCH_MIN;
        c->spilled = false;
    }
    t->tls_list.grown = 0;
}

const struct hak_tier_ops _hak_tls_list_ops = {
    .name = "tls-list",
    .pop = tls_pop,
    .push = tls_push,
    .pop_batch = tls_pop_batch,
    .push_batch = tls_push_batch,
    .push_chain = tls_push_chain,
    .pop_chain = tls_pop_chain,
    .peek = tls_peek,
    .refill = tls_refill,
    .spill = tls_spill,
    .flush = tls_flush,
    .cached = tls_cached,
    .stats = tls_stats,
    .thread_init = tls_thread_init,
    .idle = tls_idle,
};
