/* hakmem: the tls-list tier's hot operations (invariants in tls_list.h). */
#ifndef HAK_TIERS_TLS_LIST_INLINE_H
#define HAK_TIERS_TLS_LIST_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_tls_list_pop_inline(struct hak_thread *t, unsigned cls)
{
    void *b = _hak_sll_pop(&t->tls_list.l[cls], cls);
    HAK_DEBUG(if (b != NULL) HAK_RELAXED_ADD(t->tls_list.c[cls].hits, 1));
    return b;
}

HAK_INLINE bool _hak_tls_list_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    return _hak_sll_push(&t->tls_list.l[cls], b);
}

#endif /* HAK_TIERS_TLS_LIST_INLINE_H */
