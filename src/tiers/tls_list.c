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
    _hak_link_open(t->tls_list.c[cls].head);
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

/* Detaches the first n blocks as one chain. */
static size_t tls_pop_batch(struct hak_thread *t, unsigned cls, void **out, size_t n)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    size_t k = 0;
    void *b = c->head;
    for (; k < n && b != NULL; k++) {
        out[k] = b;
        b = _hak_link_get(b);
        HAK_DEBUG(_hak_debug_check_link("malloc", cls, b));
    }
    c->head = b;
    c->n -= (uint32_t)k;
    return k;
}

static size_t tls_push_batch(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    size_t room = c->cap - c->n;
    if (n > room)
        n = room;
    for (size_t k = 0; k < n; k++) {
        _hak_link_set(in[k], c->head);
        c->head = in[k];
    }
    c->n += (uint32_t)n;
    return n;
}

static size_t tls_refill(struct hak_thread *t, unsigned cls)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    if (c->cap == 0)
        return 0;
    c->misses++;
    size_t want = c->batch;
    uint32_t grown = c->batch * 2;
    c->batch = grown > c->cap ? (c->cap > HAK_TLS_BATCH_MIN ? c->cap : HAK_TLS_BATCH_MIN) : grown;
    return want;
}

static size_t tls_spill(struct hak_thread *t, unsigned cls)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    if (c->cap == 0)
        return 0;
    c->spills++;
    size_t give = c->batch;
    c->batch = c->batch / 2 < HAK_TLS_BATCH_MIN ? HAK_TLS_BATCH_MIN : c->batch / 2;
    return give;
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
        n += t->tls_list.c[cls].n;
    return n;
}

static void tls_stats(const struct hak_thread *t, unsigned cls, struct hak_tier_stats *out)
{
    const struct hak_tls_list_class *c = &t->tls_list.c[cls];
    *out = (struct hak_tier_stats){.hits = c->hits, .misses = c->misses, .refills = c->misses, .spills = c->spills};
}

static void tls_thread_init(struct hak_thread *t)
{
    uint32_t knob = _hak_opt.tls_list ? _hak_opt.tls_list_cap : 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_tls_list_class *c = &t->tls_list.c[cls];
        c->cap = _hak_tier_cap(knob, hak_class_size(cls));
        c->batch = HAK_TLS_BATCH_MIN;
    }
}

const struct hak_tier_ops _hak_tls_list_ops = {
    .name = "tls-list",
    .pop = tls_pop,
    .push = tls_push,
    .pop_batch = tls_pop_batch,
    .push_batch = tls_push_batch,
    .refill = tls_refill,
    .spill = tls_spill,
    .flush = tls_flush,
    .cached = tls_cached,
    .stats = tls_stats,
    .thread_init = tls_thread_init,
};
