/* hakmem: the tls-list tier's hot operations (invariants in tls_list.h). */
#ifndef HAK_TIERS_TLS_LIST_INLINE_H
#define HAK_TIERS_TLS_LIST_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_tls_list_pop_inline(struct hak_thread *t, unsigned cls)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    void *b = c->head;
    if (hak_likely(b != NULL)) {
        HAK_DEBUG(_hak_debug_check_link("malloc", cls, *(void **)b));
        c->head = *(void **)b;
        HAK_RELAXED_SET(c->n, c->n - 1);
        HAK_DEBUG(HAK_RELAXED_ADD(c->hits, 1));
    }
    return b;
}

HAK_INLINE bool _hak_tls_list_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    struct hak_tls_list_class *c = &t->tls_list.c[cls];
    if (hak_likely(c->n < c->cap)) {
        *(void **)b = c->head;
        c->head = b;
        HAK_RELAXED_SET(c->n, c->n + 1);
        return true;
    }
    return false;
}

#endif /* HAK_TIERS_TLS_LIST_INLINE_H */
