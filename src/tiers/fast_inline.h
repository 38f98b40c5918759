/* hakmem: the fast tier's hot operations (invariants in fast.h). */
#ifndef HAK_TIERS_FAST_INLINE_H
#define HAK_TIERS_FAST_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_fast_pop_inline(struct hak_thread *t, unsigned cls)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    if (hak_likely(c->n != 0)) {
        HAK_DEBUG(c->hits++);
        return c->slot[--c->n];
    }
    return NULL;
}

HAK_INLINE bool _hak_fast_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    struct hak_fast_class *c = &t->fast.c[cls];
    if (hak_likely(c->n < c->cap)) {
        c->slot[c->n++] = b;
        return true;
    }
    return false;
}

#endif /* HAK_TIERS_FAST_INLINE_H */
