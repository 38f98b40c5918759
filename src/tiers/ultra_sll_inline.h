/* hakmem: the ultra-sll tier's hot operations (invariants in ultra_sll.h). */
#ifndef HAK_TIERS_ULTRA_SLL_INLINE_H
#define HAK_TIERS_ULTRA_SLL_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_ultra_sll_pop_inline(struct hak_thread *t, unsigned cls)
{
    struct hak_ultra_sll_class *c = &t->ultra_sll.c[cls];
    void *b = _hak_sll_pop(&c->l, cls);
    HAK_DEBUG(if (b != NULL) HAK_RELAXED_ADD(c->hits, 1));
    return b;
}

HAK_INLINE bool _hak_ultra_sll_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    return _hak_sll_push(&t->ultra_sll.c[cls].l, b);
}

#endif /* HAK_TIERS_ULTRA_SLL_INLINE_H */
