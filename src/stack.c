/* hakmem: the tier stack: walks the configured plan on the slow paths.
 *
 * The hot paths (api.c) call the top tier's inline pop/push directly; they
 * come here on a miss or a refusal. Here the walk goes through the vtable:
 * these paths run once per batch, not once per block.
 *
 * Invariant: every block handed to stack_give ends in exactly one tier (or
 * its slab); every block stack_take returns was removed from exactly one.
 */
#include "internal.h"

#include "tier.h"

#define HAK_TIER_OPS_REF(name, NAME) &_hak_##name##_ops,
const struct hak_tier_ops *const _hak_plan_ops[] = {
    HAK_PLAN_CACHE_TIERS(HAK_TIER_OPS_REF) & _hak_superslab_ops,
};
#undef HAK_TIER_OPS_REF
const unsigned _hak_plan_depth = sizeof _hak_plan_ops / sizeof _hak_plan_ops[0] - 1;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Blocks from the tiers below level, each giving what it holds, the
 * SuperSlab tier the rest: a tier passed through is neither refilled nor
 * spilled, so a block travels from its slab to the tier that missed in
 * one step. */
static size_t pass_take(struct hak_thread *t, unsigned level, unsigned cls, void **out, size_t n)
{
    size_t k = 0;
    for (; level < _hak_plan_depth && k < n; level++)
        k += _hak_plan_ops[level]->pop_batch(t, cls, out + k, n - k);
    if (k < n)
        k += _hak_ss_pop_batch(t, cls, out + k, n - k);
    return k;
}

/* Blocks to the tiers below level, each taking what it has room for, the
 * SuperSlab tier the rest. */
static void pass_give(struct hak_thread *t, unsigned level, unsigned cls, void **in, size_t n)
{
    for (; level < _hak_plan_depth && n > 0; level++) {
        size_t k = _hak_plan_ops[level]->push_batch(t, cls, in, n);
        in += k;
        n -= k;
    }
    if (n > 0)
        _hak_ss_push_batch(t, in, n);
}

/* A list tier moves its batches to and from the slabs as chains; an
 * array tier, and every tier under valgrind (whose links are tracked),
 * through arrays. */
static bool takes_chains(const struct hak_tier_ops *ops)
{
    return ops->pop_chain != NULL && !HAK_TRACK_ON;
}

/* The chain counterpart of pass_give: the tiers below level take what
 * they have room for straight off the chain, the slabs the rest. */
static void pass_give_chain(struct hak_thread *t, unsigned level, unsigned cls, void *head,
                            void *tail, size_t n)
{
    for (; level < _hak_plan_depth && n > 0; level++)
        n -= _hak_plan_ops[level]->push_chain(t, cls, &head, tail, n);
    if (n > 0)
        _hak_ss_push_chain(t, head, n);
}

/* Whether every cache tier below level holds arrays (none takes chains):
 * a list tier at level then spills its list uncut (stack_give). */
static bool arrays_below(unsigned level)
{
    for (unsigned l = level + 1; l < _hak_plan_depth; l++)
        if (takes_chains(_hak_plan_ops[l]))
            return false;
    return true;
}

/* Gives the first n blocks of the open chain head (it goes on past them,
 * or ends there with a NULL link) to the tiers below level, array tiers
 * all, each taking what it has room for, and the slabs the rest; returns
 * the block after the n. */
static void *pass_give_open(struct hak_thread *t, unsigned level, unsigned cls, void *head,
                            size_t n)
{
    for (; level < _hak_plan_depth && n > 0; level++)
        n -= _hak_plan_ops[level]->push_chain(t, cls, &head, NULL, n);
    return n > 0 ? _hak_ss_push_chain(t, head, n) : head;
}

/* Fills the tier at level, which missed, with up to want blocks: what the
 * cache tiers below hold through an array (HAK_BATCH_MAX at most), the
 * rest from the slabs, as a chain into a list tier. An array tier takes
 * them through the array: the slab leaves its uncarved blocks unwritten,
 * so a refill faults in no page the program has not asked for; and so
 * does every tier under valgrind, whose links are tracked. */
static void refill(struct hak_thread *t, unsigned level, unsigned cls, size_t want)
{
    const struct hak_tier_ops *ops = _hak_plan_ops[level];
    bool chain = takes_chains(ops);
    void *buf[HAK_BATCH_MAX];
    size_t got = 0, arr = min_size(want, HAK_BATCH_MAX);
    for (unsigned l = level + 1; l < _hak_plan_depth && got < arr; l++)
        got += _hak_plan_ops[l]->pop_batch(t, cls, buf + got, arr - got);
    if (got < arr && !chain)
        got += _hak_ss_pop_batch(t, cls, buf + got, arr - got);
    size_t kept = ops->push_batch(t, cls, buf, got);
    if (kept < got) {
        pass_give(t, level + 1, cls, buf + kept, got - kept);
        return;
    }
    /* A short array is what the slabs had to give (superslab.c,
     * slab_take): the chain would top it up from fresh pages. */
    if (got == want || !chain)
        return;
    void *head, *tail;
    size_t k = _hak_ss_pop_chain(t, cls, want - got, &head, &tail);
    if (k > 0 && (k -= ops->push_chain(t, cls, &head, tail, k)) > 0)
        _hak_ss_push_chain(t, head, k);
}

/* Takes up to n blocks; the first tier that is on (refill > 0) and
 * missed is refilled from below. Only that one: a lower tier that
 * refilled itself too would copy every block once more on its way up
 * while a program allocates more than the caches hold. */
static size_t stack_take(struct hak_thread *t, unsigned level, unsigned cls, void **out, size_t n)
{
    if (level == _hak_plan_depth)
        return _hak_ss_pop_batch(t, cls, out, n);
    const struct hak_tier_ops *ops = _hak_plan_ops[level];
    size_t k = ops->pop_batch(t, cls, out, n);
    if (k == n)
        return k;
    /* A chain has no array to fit: a list tier gets its whole batch, up to
     * its cap, and a batch as long as a slab's free list takes the list
     * unwalked (superslab.c, slab_take_chain). Held to HAK_BATCH_MAX, a
     * tls-list whose batch had grown to its cap still refilled 128 blocks
     * at a time: sh8bench (1T) refilled its 16-byte class 796k times. */
    size_t want = ops->refill(t, cls);
    if (!takes_chains(ops))
        want = min_size(want, HAK_BATCH_MAX);
    if (want == 0)
        return k + stack_take(t, level + 1, cls, out + k, n - k);
    HAK_TRACE(t, HAK_EV_REFILL, cls, NULL);
    refill(t, level, cls, want);
    k += ops->pop_batch(t, cls, out + k, n - k);
    return k == n ? k : k + pass_take(t, level + 1, cls, out + k, n - k);
}

/* Gives n blocks; the first tier that is on (spill > 0) and refused
 * spills a batch below, and only that one, as with refills. A list tier
 * spills a chain, not an array (but under valgrind). */
static void stack_give(struct hak_thread *t, unsigned level, unsigned cls, void **in, size_t n)
{
    if (level == _hak_plan_depth) {
        _hak_ss_push_batch(t, in, n);
        return;
    }
    const struct hak_tier_ops *ops = _hak_plan_ops[level];
    size_t k = ops->push_batch(t, cls, in, n);
    if (k == n)
        return;
    size_t sp = min_size(ops->spill(t, cls), HAK_BATCH_MAX);
    if (sp == 0) {
        stack_give(t, level + 1, cls, in + k, n - k);
        return;
    }
    HAK_TRACE(t, HAK_EV_SPILL, cls, NULL);
    if (takes_chains(ops) && arrays_below(level)) {
        /* The whole list, unwalked; the spill goes down off its front,
         * and the rest back into the emptied tier as it is: cut first,
         * the spill was walked twice, to the cut and by the tiers below. */
        void *head, *tail;
        size_t all = ops->pop_chain(t, cls, SIZE_MAX, &head, &tail);
        size_t give = min_size(sp, all);
        void *rest = pass_give_open(t, level + 1, cls, head, give);
        /* The tier had room for all of it a moment ago; what it would not
         * take back (nothing, unless a call between filled it) goes on
         * down rather than be lost. */
        size_t left = all - give;
        if (left > 0 && (left -= ops->push_chain(t, cls, &rest, NULL, left)) > 0)
            pass_give_chain(t, level + 1, cls, rest, NULL, left);
    } else if (takes_chains(ops)) {
        void *head, *tail;
        size_t got = ops->pop_chain(t, cls, sp, &head, &tail);
        pass_give_chain(t, level + 1, cls, head, tail, got);
    } else {
        void *buf[HAK_BATCH_MAX];
        size_t got = ops->pop_batch(t, cls, buf, sp);
        pass_give(t, level + 1, cls, buf, got);
    }
    k += ops->push_batch(t, cls, in + k, n - k);
    if (k < n)
        pass_give(t, level + 1, cls, in + k, n - k);
}

/* A class none of whose slow paths ran in the last HAK_IDLE_TICKS slow
 * paths of the thread's other classes, and whose top cache has the same
 * block on top as when the sweep last looked, is idle: the blocks its
 * caches hold go back to their slabs, so slabs that hold little else
 * empty and serve the classes in use, the class's current slab too. (A
 * program that works in phases, each on a few sizes, otherwise keeps
 * every phase's slabs pinned by a few cached blocks.) The caps and the
 * batch a tier grew for the class go back to where they began only at a
 * later sweep that finds it idle still: they hold no blocks once it is
 * flushed (a grown cap only lets frees fill the list further before the
 * next flush, within the thread's growth budget), and a class the
 * program takes up again in a while (sh6bench walks its sizes, a few
 * hundred blocks of each, and comes back to them) would otherwise learn
 * them anew each time, four blocks a refill at first: a fifth of
 * sh6bench's instructions. Counted in slow paths, not time, the sweep
 * costs the fast paths nothing. The top block tells a
 * class the program still uses from its cache alone (larson's twenty
 * classes at random, each quiet on the slow paths for a while) from one
 * it left: with the ticks alone, 16 of them cost larson 2T 10% of its
 * rate in flushes and refills, and 64 left bench/rounds' last phases
 * pinned. A class that lives on one cached block (malloc and free of one
 * size in turn) is flushed needlessly at most once per HAK_IDLE_TICKS
 * slow paths. */
#define HAK_IDLE_TICKS 16

static HAK_NOINLINE void idle_sweep(struct hak_thread *t)
{
    void *buf[HAK_BATCH_MAX];
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        /* Looked at from half the ticks on, so that the top block at the
         * full count is usually compared with the one a sweep before (with
         * an older one if the class had a slow path just before that
         * sweep: a match then flushes a class in use, which costs it a
         * refill, never a block). */
        uint32_t age = t->idle.tick - t->idle.last[cls];
        if (age < HAK_IDLE_TICKS / 2)
            continue;
        void *top = _hak_plan_depth > 0 ? _hak_plan_ops[0]->peek(t, cls) : NULL;
        bool used = top != t->idle.top[cls];
        t->idle.top[cls] = top;
        if (used || age < HAK_IDLE_TICKS)
            continue;
        /* Emptied, and nothing since: only a slow path of the class fills
         * a tier below the top, and it clears the bit (a trim, which may
         * too, clears every class's). Its current slab,
         * if it kept one, is still looked at: blocks other threads held
         * may have come back. */
        bool empty = top == NULL && (t->idle.swept >> cls & 1);
        if (empty && !(t->idle.rebased >> cls & 1)) {
            for (unsigned level = 0; level < _hak_plan_depth; level++)
                if (_hak_plan_ops[level]->idle != NULL)
                    _hak_plan_ops[level]->idle(t, cls);
            t->idle.rebased |= (uint64_t)1 << cls;
        }
        if (empty && t->ss[cls].cur == NULL)
            continue;
        for (unsigned level = 0; level < _hak_plan_depth && !empty; level++) {
            const struct hak_tier_ops *ops = _hak_plan_ops[level];
            size_t k;
            void *head, *tail;
            if (takes_chains(ops)) {
                if ((k = ops->pop_chain(t, cls, SIZE_MAX, &head, &tail)) > 0)
                    _hak_ss_push_chain(t, head, k);
            } else {
                while ((k = ops->pop_batch(t, cls, buf, HAK_BATCH_MAX)) > 0)
                    _hak_ss_push_batch(t, buf, k);
            }
        }
        if (!empty)
            t->idle.top[cls] = NULL;    /* what the next look compares with */
        _hak_ss_idle(t, cls);
        t->idle.swept |= (uint64_t)1 << cls;
    }
}

static void idle_tick(struct hak_thread *t, unsigned cls)
{
    t->idle.last[cls] = ++t->idle.tick;
    t->idle.swept &= ~((uint64_t)1 << cls);
    t->idle.rebased &= ~((uint64_t)1 << cls);
    if (hak_unlikely((t->idle.tick & (HAK_IDLE_TICKS - 1)) == 0))
        idle_sweep(t);
}

void *_hak_stack_alloc(struct hak_thread *t, unsigned cls)
{
    void *b;
    idle_tick(t, cls);
    return stack_take(t, 0, cls, &b, 1) == 1 ? b : NULL;
}

void _hak_stack_free(struct hak_thread *t, unsigned cls, void *b)
{
    idle_tick(t, cls);
    stack_give(t, 0, cls, &b, 1);
}

/* The sinks tiers flush into: level i flushes into level i + 1. */
#define HAK_SINK_DEF(i)                                                                        \
    static void sink_##i(struct hak_thread *t, unsigned cls, void **in, size_t n)              \
    {                                                                                          \
        pass_give(t, (i) + 1, cls, in, n);                                                     \
    }
HAK_SINK_DEF(0)
HAK_SINK_DEF(1)
HAK_SINK_DEF(2)
HAK_SINK_DEF(3)
static const hak_sink_fn sinks[] = {sink_0, sink_1, sink_2, sink_3};
_Static_assert(sizeof sinks / sizeof sinks[0] >= sizeof _hak_plan_ops / sizeof _hak_plan_ops[0] - 1,
               "a sink for every cache tier");

void _hak_stack_flush_level(struct hak_thread *t, unsigned level)
{
    _hak_plan_ops[level]->flush(t, sinks[level]);
}

void _hak_stack_flush(struct hak_thread *t)
{
    for (unsigned level = 0; level < _hak_plan_depth; level++)
        _hak_stack_flush_level(t, level);
}

uint64_t _hak_stack_cached(const struct hak_thread *t)
{
    uint64_t n = 0;
    for (unsigned level = 0; level < _hak_plan_depth; level++)
        n += _hak_plan_ops[level]->cached(t);
    return n;
}

uint64_t _hak_stack_shared_cached(void)
{
    uint64_t n = 0;
    for (unsigned level = 0; level < _hak_plan_depth; level++)
        if (_hak_plan_ops[level]->shared_cached != NULL)
            n += _hak_plan_ops[level]->shared_cached();
    return n;
}

void _hak_stack_trim(struct hak_thread *t)
{
    _hak_stack_flush(t);
    for (unsigned level = 0; level < _hak_plan_depth; level++)
        if (_hak_plan_ops[level]->trim != NULL)
            _hak_plan_ops[level]->trim(t, sinks[level]);
    /* The depot's blocks may have gone to a tier below the magazine with
     * no slow path of their class: every class is swept again. */
    t->idle.swept = 0;
    t->idle.rebased = 0;
}

void _hak_stack_fork(int phase)
{
    for (unsigned level = 0; level < _hak_plan_depth; level++)
        if (_hak_plan_ops[level]->fork != NULL)
            _hak_plan_ops[level]->fork(phase);
}
