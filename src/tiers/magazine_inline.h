/* hakmem: the magazine tier's hot operations (invariants in magazine.h):
 * a round from or to the loaded magazine; anything else is out of line. */
#ifndef HAK_TIERS_MAGAZINE_INLINE_H
#define HAK_TIERS_MAGAZINE_INLINE_H

#include "../internal.h"

HAK_INLINE void *_hak_magazine_pop_inline(struct hak_thread *t, unsigned cls)
{
    struct hak_magazine *m = t->magazine.c[cls].loaded;
    if (hak_likely(m != NULL && m->n != 0)) {
        uint32_t n = m->n - 1;
        HAK_DEBUG(HAK_RELAXED_ADD(t->magazine.c[cls].hits, 1));
        HAK_RELAXED_SET(m->n, n);
        return m->round[n];
    }
    return NULL;
}

HAK_INLINE bool _hak_magazine_push_inline(struct hak_thread *t, unsigned cls, void *b)
{
    struct hak_magazine *m = t->magazine.c[cls].loaded;
    if (hak_likely(m != NULL && m->n < m->cap)) {
        uint32_t n = m->n;
        m->round[n] = b;
        HAK_RELAXED_SET(m->n, n + 1);
        return true;
    }
    return false;
}

#endif /* HAK_TIERS_MAGAZINE_INLINE_H */
