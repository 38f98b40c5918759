/* hakmem unit tests: the SuperSlab tier's one-block pop and push, as the
 * tiers above call them: under the thread's heap lock, which the purger
 * takes (with a trylock) to move a thread's spares. Called without it, a
 * test thread would change its spare list under the purger's feet. No
 * assertion may run inside the lock: check allocates as it asserts. */
#ifndef HAK_TESTS_SS_LOCKED_H
#define HAK_TESTS_SS_LOCKED_H

#include "internal.h"

static inline void *ss_pop(struct hak_thread *t, unsigned cls)
{
    _hak_heap_lock(t);
    void *b = _hak_ss_pop(t, cls);
    _hak_heap_unlock(t);
    return b;
}

static inline void ss_push(struct hak_thread *t, void *b)
{
    _hak_heap_lock(t);
    _hak_ss_push(t, b);
    _hak_heap_unlock(t);
}

#endif /* HAK_TESTS_SS_LOCKED_H */
