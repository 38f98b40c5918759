/* hakmem: the top of the configured plan, for the inline fast paths.
 *
 * HAK_TOP_POP(t, cls)  a block or NULL (miss: take the slow path).
 * HAK_TOP_PUSH(t, s, cls, p)  true if p, a block of class cls of slab s,
 *                      is t's and the top tier took it, or is another
 *                      thread's and went to its slab's run in t (an
 *                      active thread); false sends the caller to the slow
 *                      path.
 * Both are direct calls to static inline functions, so the compiler sees
 * the whole fast path: no indirect call, no lock, no syscall.
 */
#ifndef HAK_TOP_H
#define HAK_TOP_H

#include "internal.h"

#if HAK_PLAN_DEPTH == 0
/* Under valgrind every thread's _hak_tls is the empty thread (track.h):
 * its frees take the slow path, where they are tracked. Otherwise the
 * block goes to its slab, whichever list that is on. */
HAK_INLINE bool _hak_ss_push_top(struct hak_thread *t, struct hak_slab *s, void *p)
{
    if (hak_likely(_hak_ss_push_fast(t, s, p)))
        return true;
    if (HAK_TRACK_ON && t->state != HAK_THREAD_ACTIVE)
        return false;
    _hak_ss_push_slow(t, s, p);
    return true;
}
#define HAK_TOP_POP(t, cls) _hak_ss_pop_fast((t), (cls))
#define HAK_TOP_PUSH(t, s, cls, p) ((void)(cls), _hak_ss_push_top((t), (s), (p)))
#else
#define HAK_TOP_CAT3(a, b, c) a##b##c
#define HAK_TOP_FN(tier, op) HAK_TOP_CAT3(_hak_, tier, op)
#include HAK_PLAN_TOP_INLINE
#define HAK_TOP_POP(t, cls) HAK_TOP_FN(HAK_PLAN_TOP, _pop_inline)((t), (cls))
/* Another thread's block goes where _hak_free_block would send it, without
 * the way there: a consumer thread frees nearly every block so. Under
 * valgrind _hak_tls is the empty thread, never active. */
HAK_INLINE bool _hak_top_push(struct hak_thread *t, struct hak_slab *s, unsigned cls, void *p)
{
    if (hak_likely(_hak_ss_owns(t, s)))
        return HAK_TOP_FN(HAK_PLAN_TOP, _push_inline)(t, cls, p);
    if (t->state != HAK_THREAD_ACTIVE)
        return false;
    _hak_ss_free_remote(t, s, p);
    return true;
}
#define HAK_TOP_PUSH(t, s, cls, p) _hak_top_push((t), (s), (cls), (p))
#endif

#endif /* HAK_TOP_H */
