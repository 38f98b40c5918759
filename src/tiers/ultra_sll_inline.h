/* hakmem: the ultra-sll tier's hot operations (invariants in ultra_sll.h). */
#ifndef HAK_TIERS_ULTRA_SLL_INLINE_H
#define HAK_TIERS_ULTRA_SLL_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_ultra_sll_pop_inline(struct hak_thread *t, unsigned cls)
{
    void *b = _hak_sll_pop(&t->ultra_sll.l[cls], cls);
    HAK_DEBUG(if (b != NULL) HAK_RELAXED_ADD(t->ultra_sll.c[cls].hits, 1));
    return b;
}

HAK_INLINE bool _hak_ultra_sll_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    return _hak_sll_push(&t->ultra_sll.l[cls], b);
}

#endif /* HAK_TIERS_ULTRA_SLL_INLINE_H */
