/* hakmem: the fast tier's hot operations (invariants in fast.h). */
#ifndef HAK_TIERS_FAST_INLINE_H
#define HAK_TIERS_FAST_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_fast_pop_inline(struct hak_thread *t, unsigned cls)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    uint32_t n = c->n;
    if (hak_likely(n != 0)) {
        HAK_DEBUG(HAK_RELAXED_ADD(c->hits, 1));
        HAK_RELAXED_SET(c->n, n - 1);
        return c->slot[n - 1];
    }
    return NULL;
}

HAK_INLINE bool _hak_fast_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    uint32_t n = c->n;
    if (hak_likely(n < c->cap)) {
        c->slot[n] = b;
        HAK_RELAXED_SET(c->n, n + 1);
        return true;
    }
    return false;
}

#endif /* HAK_TIERS_FAST_INLINE_H */
