/* hakmem unit tests: the tier contract (src/tier.h), written once and run
 * against every cache tier of this build's plan, each driven alone over
 * the SuperSlab tier: blocks come from _hak_ss_pop_batch and go back with
 * _hak_ss_push_batch, so no other cache tier is involved. The SuperSlab
 * tier itself is checked for its own contract (never refuses, conserves).
 *
 * Every case runs in a fresh thread, so the tier starts empty.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"
#include "internal.h"
#include "tier.h"
#include "tiers/sll.h"
#include "ss_locked.h"

#define MAX_BLOCKS 200000

struct ctx {
    const struct hak_tier_ops *ops;
    unsigned cls;
};

/* The check library allocates to report every assertion (through this
 * very allocator), which would change the counts under test: threads
 * record their first failure here instead, and the test asserts on it. */
static _Thread_local int failed_line;
#define EXPECT(cond)                                                                           \
    do {                                                                                       \
        if (!(cond) && failed_line == 0)                                                       \
            failed_line = __LINE__;                                                            \
    } while (0)

static const unsigned test_classes[] = {0, 5, 19, 33, HAK_NCLASSES - 1};
#define NCLASSES_TESTED (sizeof test_classes / sizeof test_classes[0])

static struct hak_thread *me(void)
{
    bool locked;
    struct hak_thread *t = _hak_thread_get(&locked);
    EXPECT(!locked);
    return t;
}

struct job {
    void *(*fn)(void *);
    void *arg;
    int failed_line;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->fn(j->arg);
    j->failed_line = failed_line;
    return NULL;
}

static void run_in_thread(void *(*fn)(void *), void *c)
{
    struct job j = {fn, c, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, job_main, &j), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(j.failed_line == 0, "expectation at line %d failed", j.failed_line);
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Same multiset of pointers (sorts both arrays). */
static void assert_same_blocks(void **a, void **b, size_t n)
{
    qsort(a, n, sizeof *a, ptr_cmp);
    qsort(b, n, sizeof *b, ptr_cmp);
    for (size_t i = 0; i < n; i++) {
        EXPECT((a[i]) == (b[i]));
        if (i > 0)
            EXPECT((b[i]) != (b[i - 1]));
    }
}

static void ss_sink(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    (void)cls;
    _hak_ss_push_batch(t, in, n);
}

/* Empties what the tier shares between threads (the magazine depot), so
 * the test sees only its own blocks. */
static void drain_shared(struct hak_thread *t, const struct hak_tier_ops *ops)
{
    if (ops->trim != NULL)
        ops->trim(t, ss_sink);
}

/* Blocks the tier holds for t, plus those it shares (after drain_shared,
 * only t's). */
static uint64_t held(struct hak_thread *t, const struct hak_tier_ops *ops)
{
    return ops->cached(t) + (ops->shared_cached != NULL ? ops->shared_cached() : 0);
}

static void *take(struct hak_thread *t, unsigned cls)
{
    void *b = ss_pop(t, cls);
    EXPECT((b) != NULL);
    return b;
}

/* ---- pop on an empty tier misses ---- */
static void *empty_pop(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    EXPECT((c->ops->cached(t)) == (0));
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        EXPECT((c->ops->pop(t, cls)) == NULL);
    void *out[4];
    EXPECT(c->ops->pop_batch(t, c->cls, out, 4) == 0);
    return NULL;
}

/* ---- peek shows the next pop and changes nothing ---- */
static void *peek_is_the_next_pop(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    drain_shared(t, c->ops);
    EXPECT(c->ops->peek(t, c->cls) == NULL);
    /* Two, fewer than the HAK_TIER_MIN_BLOCKS every tier holds of a class (tier.h). */
    for (int i = 0; i < 2; i++)
        EXPECT(c->ops->push(t, c->cls, take(t, c->cls)));
    for (int i = 1; i >= 0; i--) {
        void *p = c->ops->peek(t, c->cls);
        EXPECT(held(t, c->ops) == (uint64_t)i + 1);
        void *q = c->ops->pop(t, c->cls);
        EXPECT(p == q && q != NULL);
        if (q != NULL)
            ss_push(t, q);
    }
    EXPECT(c->ops->peek(t, c->cls) == NULL);
    return NULL;
}

/* ---- push until refused; everything pushed pops back ---- */
static void *push_until_refused(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    drain_shared(t, c->ops);
    void **in = malloc(MAX_BLOCKS * sizeof *in);
    void **out = malloc(MAX_BLOCKS * sizeof *out);
    size_t n = 0;
    for (;;) {
        if (n == MAX_BLOCKS) {
            EXPECT(!"the tier never refused a push");
            break;
        }
        void *b = take(t, c->cls);
        if (!c->ops->push(t, c->cls, b)) {
            ss_push(t, b);             /* refused: still ours */
            break;
        }
        in[n++] = b;
        EXPECT(held(t, c->ops) == n);
    }
    /* However large the class: at its default knob no tier's cap is
     * below the floor (tier.h). */
    EXPECT(n >= HAK_TIER_MIN_BLOCKS);
    size_t k = 0;
    void *b;
    while (k < MAX_BLOCKS && (b = c->ops->pop(t, c->cls)) != NULL)
        out[k++] = b;
    EXPECT((k) == (n));
    EXPECT(held(t, c->ops) == 0);
    assert_same_blocks(in, out, n);
    _hak_ss_push_batch(t, out, n);
    free(in);
    free(out);
    return NULL;
}

/* ---- batches conserve blocks ---- */
static void *batches_conserve(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    drain_shared(t, c->ops);
    enum { N = 96 };
    void *in[N], *copy[N], *out[2 * N];
    EXPECT(_hak_ss_pop_batch(t, c->cls, in, N) == N);
    memcpy(copy, in, sizeof in);
    size_t k = c->ops->push_batch(t, c->cls, in, N);
    EXPECT((k) > (0));
    EXPECT((k) <= (N));
    EXPECT(held(t, c->ops) == k);
    size_t got = c->ops->pop_batch(t, c->cls, out, 2 * N);
    EXPECT((got) == (k));
    EXPECT(held(t, c->ops) == 0);
    assert_same_blocks(copy, out, k);           /* the prefix it took, exactly */
    _hak_ss_push_batch(t, out, got);
    _hak_ss_push_batch(t, in + k, N - k);
    return NULL;
}

/* ---- chains conserve blocks ---- */

/* A chain of n blocks from the slabs, as _hak_ss_pop_chain gives it (its
 * tail NULL if that is how it came) when one call gives them all: a
 * refill that carves may give fewer (superslab.c, carve_bound), and the
 * rest is appended, the tail found by a walk where it is not known. */
static size_t ss_chain(struct hak_thread *t, unsigned cls, size_t n, void **head, void **tail)
{
    size_t k = 0, piece_n = 0;
    void *first = NULL, *piece = NULL, *last = NULL;
    while (k < n) {
        void *h, *tl;
        size_t got = _hak_ss_pop_chain(t, cls, n - k, &h, &tl);
        if (got == 0)
            break;
        if (first == NULL) {
            first = h;
        } else {
            if (last == NULL)
                last = _hak_chain_nth(piece, piece_n);
            *(void **)last = h;
        }
        piece = h;
        piece_n = got;
        last = tl;
        k += got;
    }
    *head = first;
    *tail = last;
    return k;
}

static void *chains_conserve(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    if (HAK_TRACK_ON)                           /* the chain operations' links are plain */
        return NULL;
    drain_shared(t, c->ops);
    /* As in batches_conserve: qsort of more would allocate, and the
     * tier would cache that block too. */
    enum { N = 96 };
    void *copy[N], *rest[N], *out[N], *head, *tail;
    EXPECT(ss_chain(t, c->cls, N, &head, &tail) == N);
    _hak_chain_to_array(&(void *){head}, tail, N, copy, N);
    /* The tail, or NULL for a chain that ends with a NULL link. */
    EXPECT(tail != NULL ? copy[N - 1] == tail : *(void **)copy[N - 1] == NULL);
    /* A prefix of the chain, up to the tier's room (it has some); head
     * is then the first block left, NULL if none is. */
    size_t k = c->ops->push_chain(t, c->cls, &head, tail, N);
    EXPECT(k > 0);
    EXPECT(held(t, c->ops) == k);
    EXPECT((head == NULL) == (k == N));
    _hak_chain_to_array(&(void *){head}, tail, N - k, rest, N - k);
    for (size_t i = k; i < N; i++)
        EXPECT(rest[i - k] == copy[i]);         /* the rest, still linked */
    size_t got = c->ops->pop_batch(t, c->cls, out, N);
    EXPECT(got == k);
    assert_same_blocks(copy, out, k);
    /* Back in, then out as a chain where the tier has one. */
    EXPECT(c->ops->push_batch(t, c->cls, out, got) == got);
    if (c->ops->pop_chain != NULL) {
        void *h, *tl;
        EXPECT(c->ops->pop_chain(t, c->cls, N, &h, &tl) == got);
        _hak_chain_to_array(&(void *){h}, tl, got, out, got);
        EXPECT(tl != NULL ? out[got - 1] == tl : *(void **)out[got - 1] == NULL);
        assert_same_blocks(copy, out, got);
    } else {
        EXPECT(c->ops->pop_batch(t, c->cls, out, N) == got);
    }
    EXPECT(held(t, c->ops) == 0);
    _hak_ss_push_batch(t, out, got);
    if (k < N)
        _hak_ss_push_chain(t, head, N - k);
    return NULL;
}

/* ---- a chain whose tail is not known, into a tier that holds a block ---- */

static void *chain_without_tail(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    if (HAK_TRACK_ON)                           /* the chain operations' links are plain */
        return NULL;
    drain_shared(t, c->ops);
    enum { N = 8 };
    void *one, *copy[N + 1], *out[N + 1], *head, *tail;
    EXPECT(_hak_ss_pop_batch(t, c->cls, &one, 1) == 1);
    EXPECT(c->ops->push_batch(t, c->cls, &one, 1) == 1);
    EXPECT(ss_chain(t, c->cls, N, &head, &tail) == N);
    _hak_chain_to_array(&(void *){head}, tail, N, copy, N);
    *(void **)copy[N - 1] = NULL;
    size_t k = c->ops->push_chain(t, c->cls, &head, NULL, N);
    EXPECT(k > 0);
    EXPECT(held(t, c->ops) == k + 1);
    EXPECT((head == NULL) == (k == N));
    if (k < N)
        EXPECT(head == copy[k]);                /* the rest, still the caller's */
    /* Every block comes out once, the one the tier held first too: the
     * chain was spliced onto it, not over it. */
    size_t got = c->ops->pop_batch(t, c->cls, out, N + 1);
    EXPECT(got == k + 1);
    EXPECT(held(t, c->ops) == 0);
    void *want[N + 1];
    memcpy(want, copy, k * sizeof *want);
    want[k] = one;
    assert_same_blocks(want, out, got);
    _hak_ss_push_batch(t, out, got);
    if (k < N)
        _hak_ss_push_chain(t, head, N - k);
    return NULL;
}

/* ---- an array tier takes the front of an open chain ---- */

/* n of an open chain of n + OPEN_MORE blocks, the tail not given: the
 * blocks after the n are the caller's, and *head goes to the first block
 * not taken, past the n when the tier took them all. Returns how many it
 * took. */
enum { OPEN_FEW = 2, OPEN_MANY = 2 * HAK_MAG_CAP_MAX + 8, OPEN_MORE = 4 };
static size_t open_chain_of(struct hak_thread *t, const struct ctx *c, size_t n)
{
    void *copy[OPEN_MANY + OPEN_MORE], *out[OPEN_MANY + OPEN_MORE], *head, *tail;
    EXPECT(ss_chain(t, c->cls, n + OPEN_MORE, &head, &tail) == n + OPEN_MORE);
    _hak_chain_to_array(&(void *){head}, tail, n + OPEN_MORE, copy, n + OPEN_MORE);
    *(void **)copy[n + OPEN_MORE - 1] = NULL;
    /* Counted from here: the slabs the last round gave back may have
     * started the purger, whose pthread_create allocates through the tier
     * (other classes). */
    uint64_t before = held(t, c->ops);
    size_t k = c->ops->push_chain(t, c->cls, &head, NULL, n);
    EXPECT(k > 0);
    EXPECT(k <= n);
    EXPECT(held(t, c->ops) - before == k);
    EXPECT(head == copy[k]);
    size_t got = c->ops->pop_batch(t, c->cls, out, n + OPEN_MORE);
    EXPECT(got == k);
    assert_same_blocks(copy, out, k);
    _hak_ss_push_batch(t, out, got);
    _hak_ss_push_batch(t, copy + k, n + OPEN_MORE - k);
    return k;
}

static void *open_chain(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    /* The chain operations' links are plain; a list tier takes a chain
     * that ends after its n blocks, or cuts it (stack.c spills into array
     * tiers only). */
    if (HAK_TRACK_ON || c->ops->pop_chain != NULL)
        return NULL;
    drain_shared(t, c->ops);
    /* A few, which every tier has room for: *head is the n-th block's
     * link. Then more than a magazine's rounds, so the magazine tier's
     * push_chain crosses to another one within the chain. */
    EXPECT(open_chain_of(t, c, OPEN_FEW) == OPEN_FEW);
    open_chain_of(t, c, OPEN_MANY);
    return NULL;
}

/* ---- flush leaves the tier empty, every block below ---- */
static void *sunk[64];
static size_t nsunk;
static void record_sink(struct hak_thread *t, unsigned cls, void **in, size_t n)
{
    (void)t;
    (void)cls;
    for (size_t i = 0; i < n && nsunk < 64; i++)
        sunk[nsunk++] = in[i];
}

static void *flush_empties(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    void *in[8], *copy[8];
    size_t pushed = 0;
    drain_shared(t, c->ops);
    for (size_t i = 0; i < 8; i++) {
        void *b = take(t, c->cls);
        if (c->ops->push(t, c->cls, b))
            copy[pushed] = in[pushed] = b, pushed++;
        else
            ss_push(t, b);
    }
    nsunk = 0;
    c->ops->flush(t, record_sink);
    /* A tier with a shared cache (the magazine depot, when 8 blocks
     * overflow a thread's two magazines) gives those back on trim. */
    if (c->ops->trim != NULL)
        c->ops->trim(t, record_sink);
    EXPECT((c->ops->cached(t)) == (0));
    EXPECT((c->ops->pop(t, c->cls)) == NULL);
    EXPECT((nsunk) == (pushed));
    assert_same_blocks(copy, sunk, pushed);
    _hak_ss_push_batch(t, sunk, nsunk);
    (void)in;
    return NULL;
}

/* ---- with its knob at 0 the tier passes everything through ---- */
static void *knob_zero(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();                /* thread_init saw the knobs at 0 */
    void *b = take(t, c->cls);
    EXPECT(!c->ops->push(t, c->cls, b));
    EXPECT(c->ops->push_batch(t, c->cls, &b, 1) == 0);
    void *head = b;
    EXPECT(c->ops->push_chain(t, c->cls, &head, b, 1) == 0);
    EXPECT(head == b);                          /* refused: still the caller's */
    EXPECT((c->ops->pop(t, c->cls)) == NULL);
    EXPECT(c->ops->refill(t, c->cls) == 0);
    EXPECT(c->ops->spill(t, c->cls) == 0);
    ss_push(t, b);
    /* The whole stack still serves and takes back blocks. */
    void *blocks[500];
    for (int i = 0; i < 500; i++) {
        blocks[i] = _hak_stack_alloc(t, c->cls);
        EXPECT((blocks[i]) != NULL);
    }
    for (int i = 0; i < 500; i++)
        _hak_stack_free(t, c->cls, blocks[i]);
    EXPECT((c->ops->cached(t)) == (0));
    return NULL;
}

/* ---- stats count what happened ---- */
static void *stats_add_up(void *arg)
{
    struct ctx *c = arg;
    struct hak_thread *t = me();
    struct hak_tier_stats st;
    c->ops->stats(t, c->cls, &st);
    EXPECT((st.misses) == (0));
    EXPECT((st.spills) == (0));
    for (int i = 0; i < 3; i++)
        c->ops->refill(t, c->cls);
    for (int i = 0; i < 2; i++)
        c->ops->spill(t, c->cls);
    c->ops->stats(t, c->cls, &st);
    EXPECT((st.misses) == (3));
    EXPECT((st.refills) == (3));
    EXPECT((st.spills) == (2));
    return NULL;
}

/* ---- the stack: a class left idle gives its cached blocks and its
 * empty slab back ---- */
static void *idle_gives_back(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const unsigned idle = 5, busy = 19;
    void *b[8];
    for (int i = 0; i < 8; i++)
        b[i] = _hak_stack_alloc(t, idle);
    struct hak_slab *s = _hak_slab_of(b[0]);
    for (int i = 0; i < 8; i++)
        _hak_stack_free(t, idle, b[i]);
    /* Cached, so still out of their slab. */
    EXPECT(s->used > 0);
    /* A few slow paths of another class: too few to call the first idle
     * (HAK_IDLE_TICKS, stack.c, is 16). */
    for (int i = 0; i < 4; i++)
        _hak_stack_free(t, busy, _hak_stack_alloc(t, busy));
    EXPECT(s->used > 0);
    EXPECT(t->ss[idle].cur == s);
    /* Many more: its blocks go home, and its slab, empty now, to the
     * pool, where another class may have taken it. */
    for (int i = 0; i < 1000; i++)
        _hak_stack_free(t, busy, _hak_stack_alloc(t, busy));
    EXPECT(t->ss[idle].cur == NULL);
    EXPECT(t->ss[idle].partial == NULL);
    EXPECT(!s->in_use || s->cls != idle);
    return NULL;
}

/* ---- the stack: a class used from its cache alone, with no slow path
 * of its own, is not idle ---- */
static void *cache_use_is_not_idle(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const struct hak_tier_ops *top = _hak_plan_ops[0];
    const unsigned used = 5, busy = 19;
    /* P blocks out of the cache, P prime: the block on top, swapped with
     * one of them at each step, comes back only every P + 1 steps, so no
     * two sweeps in a row find the same one. */
    enum { P = 61, CACHED = 8 };
    void *out[P], *b[CACHED];
    for (int i = 0; i < P; i++)
        out[i] = _hak_stack_alloc(t, used);
    for (int i = 0; i < CACHED; i++)
        b[i] = _hak_stack_alloc(t, used);
    struct hak_slab *s = t->ss[used].cur;
    for (int i = 0; i < CACHED; i++)
        _hak_stack_free(t, used, b[i]);
    /* Between the other class's slow paths the program frees one block of
     * the class and takes another, from the top cache, as its fast paths
     * would. */
    for (int i = 0; i < 1000; i++) {
        _hak_stack_free(t, busy, _hak_stack_alloc(t, busy));
        void *x = top->pop(t, used);
        EXPECT(x != NULL);
        if (x == NULL)
            break;
        EXPECT(top->push(t, used, out[i % P]));
        out[i % P] = x;
    }
    /* Its blocks stayed cached and its slab its own: with the slow paths
     * alone to go by, the sweep gave them back. */
    EXPECT(held(t, top) >= CACHED);
    EXPECT(t->ss[used].cur == s);
    for (int i = 0; i < P; i++)
        _hak_stack_free(t, used, out[i]);
    _hak_stack_flush(t);
    return NULL;
}

START_TEST(test_cache_use_is_not_idle)
{
    run_in_thread(cache_use_is_not_idle, NULL);
}
END_TEST

/* ---- the stack: only the tier that missed is refilled ---- */
static void *refill_only_the_top(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const unsigned cls = 5;
    void *b = _hak_stack_alloc(t, cls);
    EXPECT(b != NULL);
    /* The top tier took the rest of its batch; the tiers below it passed
     * the request through to the slab and kept nothing. */
    EXPECT(held(t, _hak_plan_ops[0]) > 0);
    for (unsigned level = 1; level < _hak_plan_depth; level++)
        EXPECT(held(t, _hak_plan_ops[level]) == 0);
    _hak_stack_free(t, cls, b);
    _hak_stack_flush(t);
    return NULL;
}

#if HAK_TIER_TLS_LIST
/* ---- tls-list: a class that swings by more than its cap grows it; a
 * producer's class does not; an idle class gives its blocks back, and is
 * back at its base when it stays idle ---- */
static void *swings_grow_the_cap(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const struct hak_tier_ops *ops = &_hak_tls_list_ops;
    const unsigned cls = 5, busy = 19;
    struct hak_sll *l = &t->tls_list.l[cls];
    const uint32_t base = l->cap;
    enum { N = 1000 };
    static void *b[N];
    /* Allocating alone (a producer) misses at full batches, never grows. */
    for (int i = 0; i < N; i++)
        b[i] = _hak_stack_alloc(t, cls);
    EXPECT(base < N);
    EXPECT(l->cap == base);
    struct hak_tier_stats before, after;
    for (int round = 0; round < 8; round++) {
        ops->stats(t, cls, &before);
        for (int i = 0; i < N; i++)
            _hak_stack_free(t, cls, b[i]);
        for (int i = 0; i < N; i++)
            b[i] = _hak_stack_alloc(t, cls);
        ops->stats(t, cls, &after);
    }
    /* The cap outgrew the swing and what a refill adds to it: the last
     * round moved nothing below, where a cap that stopped at the first
     * power of two above N spilled and refilled a batch every round. */
    EXPECT(after.misses == before.misses);
    EXPECT(after.spills == before.spills);
    EXPECT(l->cap >= N);
    EXPECT(t->tls_list.grown == (uint64_t)(l->cap - base) * hak_class_size(cls));
    for (int i = 0; i < N; i++)
        _hak_stack_free(t, cls, b[i]);
    const uint32_t cap = l->cap, batch = t->tls_list.c[cls].batch;
    EXPECT(batch > HAK_TLS_BATCH_MIN);
    /* Idle: the sweep that finds it so sends its blocks home... */
    for (int i = 0; i < 100 && l->n != 0; i++)
        _hak_stack_free(t, busy, _hak_stack_alloc(t, busy));
    EXPECT(l->n == 0);
    /* ...but leaves what the class learned, for a program that takes it up
     * again soon: a slow path of the class keeps it through the next
     * flush too... */
    EXPECT(l->cap == cap);
    EXPECT(t->tls_list.c[cls].batch == batch);
    _hak_stack_free(t, cls, _hak_stack_alloc(t, cls));
    EXPECT(l->n > 0);
    for (int i = 0; i < 100 && l->n != 0; i++)
        _hak_stack_free(t, busy, _hak_stack_alloc(t, busy));
    EXPECT(l->n == 0);
    EXPECT(l->cap == cap);
    /* ...until a later sweep finds it idle still. */
    for (int i = 0; i < 1000; i++)
        _hak_stack_free(t, busy, _hak_stack_alloc(t, busy));
    EXPECT(l->n == 0);
    EXPECT(l->cap == base);
    EXPECT(t->tls_list.c[cls].batch == HAK_TLS_BATCH_MIN);
    EXPECT(t->tls_list.grown == 0);
    _hak_stack_flush(t);
    return NULL;
}

/* ---- tls-list: a refill brings the whole batch, past HAK_BATCH_MAX ---- */
static void *refills_fill_the_batch(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const unsigned cls = 0;
    enum { N = 4000 };
    static void *b[N];
    EXPECT(t->tls_list.l[cls].cap == 1024);
    /* The blocks are carved first, and back on their slab's free list: a
     * refill that carves fresh blocks is bounded on its own (superslab.c,
     * carve_bound; tests/unit/superslab.c checks that). */
    EXPECT(_hak_ss_pop_batch(t, cls, b, N) == N);
    _hak_ss_push_batch(t, b, N);
    struct hak_tier_stats before, after;
    _hak_tls_list_ops.stats(t, cls, &before);
    for (int i = 0; i < N; i++)
        EXPECT((b[i] = _hak_stack_alloc(t, cls)) != NULL);
    _hak_tls_list_ops.stats(t, cls, &after);
    /* The batch doubles from 4 at each miss: 4 + 8 + ... + 512 = 1020
     * blocks in 8 refills, then 1024 a refill, 11 in all. Held to 128
     * blocks, it took 36. Under valgrind the slabs hand out arrays, of
     * HAK_BATCH_MAX at most. */
    if (!HAK_TRACK_ON)
        EXPECT(after.misses - before.misses == 11);
    for (int i = 0; i < N; i++)
        _hak_stack_free(t, cls, b[i]);
    _hak_stack_flush(t);
    return NULL;
}

START_TEST(test_refills_fill_the_batch)
{
    uint32_t saved = _hak_opt.tls_list_cap;
    _hak_opt.tls_list_cap = 1024;
    run_in_thread(refills_fill_the_batch, NULL);
    _hak_opt.tls_list_cap = saved;
}
END_TEST

/* ---- tls-list: a spill gives the newest blocks, keeps the oldest ---- */
static void *spill_keeps_the_oldest(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const unsigned cls = 7;
    struct hak_sll *l = &t->tls_list.l[cls];
    const uint32_t cap = l->cap;
    static void *b[HAK_TLS_CAP_MAX + 1], *out[HAK_TLS_CAP_MAX + 1];
    EXPECT(cap >= 2 * HAK_TLS_BATCH_MIN);
    EXPECT(l->n == 0);
    for (size_t k = 0, got = 1; k < cap + 1 && got > 0; k += got)
        EXPECT((got = _hak_ss_pop_batch(t, cls, b + k, cap + 1 - k)) > 0);
    uint64_t cached = _hak_stack_cached(t), in = t->ctr.in;
    /* cap frees fill the list; the next is refused, and the list spills
     * its newest sp, the blocks freed last, then takes the block. Every
     * block is in a cache or back in its slab. */
    for (uint32_t i = 0; i <= cap; i++)
        _hak_stack_free(t, cls, b[i]);
    uint32_t sp = cap / 2 < HAK_BATCH_MAX ? cap / 2 : HAK_BATCH_MAX;
    EXPECT(l->n == cap - sp + 1);
    EXPECT(_hak_stack_cached(t) - cached + (t->ctr.in - in) == cap + 1);
    size_t got = _hak_tls_list_ops.pop_batch(t, cls, out, cap + 1);
    EXPECT(got == cap - sp + 1);
    EXPECT(out[0] == b[cap]);
    for (size_t i = 1; i < got; i++)
        EXPECT(out[i] == b[cap - sp - i]);
    _hak_ss_push_batch(t, out, got);
    _hak_stack_flush(t);
    return NULL;
}

START_TEST(test_spill_keeps_the_oldest)
{
    run_in_thread(spill_keeps_the_oldest, NULL);
}
END_TEST

/* ---- tls-list: growth stays in the bounds of tls_list.h ---- */
static void *growth_is_bounded(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const struct hak_tier_ops *ops = &_hak_tls_list_ops;
    uint64_t sum = 0;
    /* The refill and spill decisions alone, with the lists empty: every
     * class swings as far as it may. */
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        struct hak_sll *l = &t->tls_list.l[cls];
        const uint32_t base = t->tls_list.c[cls].base;
        for (int i = 0; i < 64; i++) {
            EXPECT(ops->spill(t, cls) > 0);
            for (int j = 0; j < 16; j++)
                EXPECT(ops->refill(t, cls) > 0);
        }
        uint64_t size = hak_class_size(cls);
        uint64_t max = HAK_TLS_GROW_CLASS / size < HAK_TLS_CAP_MAX ? HAK_TLS_GROW_CLASS / size
                                                                    : HAK_TLS_CAP_MAX;
        EXPECT(l->cap >= base);
        EXPECT(l->cap <= (base > max ? base : max));
        sum += (uint64_t)(l->cap - base) * size;
        EXPECT(t->tls_list.grown == sum);
    }
    EXPECT(sum <= HAK_TLS_GROW_THREAD);
    /* The thread's budget ran out: no class can double any more. */
    EXPECT(sum + HAK_TLS_GROW_CLASS > HAK_TLS_GROW_THREAD);
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        EXPECT(ops->spill(t, cls) > 0);
        for (int j = 0; j < 16; j++)
            EXPECT(ops->refill(t, cls) > 0);
    }
    EXPECT(t->tls_list.grown == sum);
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        ops->idle(t, cls);
        EXPECT(t->tls_list.l[cls].cap == t->tls_list.c[cls].base);
    }
    EXPECT(t->tls_list.grown == 0);
    return NULL;
}

START_TEST(test_swings_grow_the_cap)
{
    run_in_thread(swings_grow_the_cap, NULL);
}
END_TEST

START_TEST(test_growth_is_bounded)
{
    run_in_thread(growth_is_bounded, NULL);
}
END_TEST
#endif

START_TEST(test_refill_only_the_top)
{
    run_in_thread(refill_only_the_top, NULL);
}
END_TEST

START_TEST(test_idle_gives_back)
{
    run_in_thread(idle_gives_back, NULL);
}
END_TEST

/* _i enumerates (cache tier level, test class). */
static struct ctx ctx_for(int i)
{
    struct ctx c = {_hak_plan_ops[(unsigned)i / NCLASSES_TESTED],
                    test_classes[(unsigned)i % NCLASSES_TESTED]};
    return c;
}

#define CONTRACT_TEST(fn)                                                                      \
    START_TEST(test_##fn)                                                                      \
    {                                                                                          \
        struct ctx c = ctx_for(_i);                                                            \
        run_in_thread(fn, &c);                                                                 \
    }                                                                                          \
    END_TEST

CONTRACT_TEST(empty_pop)
CONTRACT_TEST(push_until_refused)
CONTRACT_TEST(peek_is_the_next_pop)
CONTRACT_TEST(batches_conserve)
CONTRACT_TEST(chains_conserve)
CONTRACT_TEST(chain_without_tail)
CONTRACT_TEST(open_chain)
CONTRACT_TEST(flush_empties)
CONTRACT_TEST(stats_add_up)

START_TEST(test_knob_zero)
{
    /* Field by field: the purger thread reads the decay knobs meanwhile. */
    struct hak_options saved = _hak_opt;
    _hak_opt.fast_cap = _hak_opt.ultra = _hak_opt.ultra_cap = 0;
    _hak_opt.tls_list = _hak_opt.tls_list_cap = _hak_opt.mag_cap = 0;
    struct ctx c = ctx_for(_i);
    run_in_thread(knob_zero, &c);
    _hak_opt.fast_cap = saved.fast_cap;
    _hak_opt.ultra = saved.ultra;
    _hak_opt.ultra_cap = saved.ultra_cap;
    _hak_opt.tls_list = saved.tls_list;
    _hak_opt.tls_list_cap = saved.tls_list_cap;
    _hak_opt.mag_cap = saved.mag_cap;
}
END_TEST

/* The SuperSlab tier: pop never misses, push never refuses. */
static void *superslab_contract(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    const struct hak_tier_ops *ops = &_hak_superslab_ops;
    void *in[300], *copy[300];
    for (int i = 0; i < 300; i++) {
        in[i] = ops->pop(t, 3);
        EXPECT((in[i]) != NULL);
    }
    memcpy(copy, in, sizeof in);
    EXPECT(ops->push_batch(t, 3, in, 300) == 300);
    void *out[300];
    EXPECT(ops->pop_batch(t, 3, out, 300) == 300);
    for (int i = 0; i < 300; i++)
        EXPECT(ops->push(t, 3, out[i]));
    EXPECT((ops->cached(t)) == (0));
    return NULL;
}

START_TEST(test_superslab_contract)
{
    run_in_thread(superslab_contract, NULL);
}
END_TEST

/* A chain goes back to its slabs run by run: here runs of two slabs of
 * this thread and of one that an exited thread left, interleaved. */
enum { CHAIN_OTHER = 50 };
static void *leave_blocks(void *arg)
{
    void **b = arg;
    struct hak_thread *t = me();
    for (int i = 0; i < CHAIN_OTHER; i++)
        b[i] = take(t, 3);
    return NULL;                                /* exit leaves the slab abandoned */
}

static void *superslab_chains(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    if (HAK_TRACK_ON)
        return NULL;
    uint32_t cap = (uint32_t)(HAK_SLAB_SIZE / hak_class_size(3));
    size_t nmine = cap + 100;
    void **mine = malloc(nmine * sizeof *mine), *other[CHAIN_OTHER], *order[400];
    for (size_t i = 0; i < nmine; i++)
        mine[i] = take(t, 3);
    struct hak_slab *a = _hak_slab_of(mine[0]), *b = _hak_slab_of(mine[cap]);
    EXPECT(a != b && a->used == cap && b->used == 100);
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, leave_blocks, other) == 0);
    EXPECT(pthread_join(th, NULL) == 0);
    struct hak_slab *o = _hak_slab_of(other[0]);
    EXPECT(atomic_load(&o->xowner) == 0);       /* abandoned */
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        order[n++] = mine[i];
    for (int i = 0; i < CHAIN_OTHER / 2; i++)
        order[n++] = other[i];
    for (size_t i = cap; i < nmine; i++)
        order[n++] = mine[i];
    for (int i = 100; i < 200; i++)
        order[n++] = mine[i];
    for (int i = CHAIN_OTHER / 2; i < CHAIN_OTHER; i++)
        order[n++] = other[i];
    for (size_t i = 0; i + 1 < n; i++)
        *(void **)order[i] = order[i + 1];
    void *head = order[0];
    EXPECT(_hak_superslab_ops.push_chain(t, 3, &head, order[n - 1], n) == n);
    EXPECT(a->used == cap - 200);
    EXPECT(b->used == 0);
    /* Its last blocks back, the abandoned slab went back to the pool. */
    EXPECT(!o->in_use);
    EXPECT(hak_heap_check() == 0);
    for (size_t i = 200; i < cap; i++)
        ss_push(t, mine[i]);
    free(mine);
    return NULL;
}

START_TEST(test_superslab_chains)
{
    run_in_thread(superslab_chains, NULL);
}
END_TEST

static Suite *suite(void)
{
    /* The contract is the tiers': every one on at its default, whatever
     * the environment says (under valgrind they default to off). */
    _hak_init();
    _hak_opt.fast_cap = HAK_DEFAULT_FAST_CAP;
    _hak_opt.ultra = _hak_opt.tls_list = 1;
    _hak_opt.ultra_cap = HAK_DEFAULT_ULTRA_CAP;
    _hak_opt.tls_list_cap = HAK_DEFAULT_TLS_LIST_CAP;
    _hak_opt.mag_cap = HAK_DEFAULT_MAG_CAP;
    Suite *s = suite_create("tier_contract");
    TCase *tc = tcase_create("contract");
    tcase_set_timeout(tc, 60);
    int n = (int)(_hak_plan_depth * NCLASSES_TESTED);
    tcase_add_loop_test(tc, test_empty_pop, 0, n);
    tcase_add_loop_test(tc, test_push_until_refused, 0, n);
    tcase_add_loop_test(tc, test_peek_is_the_next_pop, 0, n);
    tcase_add_loop_test(tc, test_batches_conserve, 0, n);
    tcase_add_loop_test(tc, test_chains_conserve, 0, n);
    tcase_add_loop_test(tc, test_chain_without_tail, 0, n);
    tcase_add_loop_test(tc, test_open_chain, 0, n);
    tcase_add_loop_test(tc, test_flush_empties, 0, n);
    tcase_add_loop_test(tc, test_knob_zero, 0, n);
    tcase_add_loop_test(tc, test_stats_add_up, 0, n);
    tcase_add_test(tc, test_superslab_contract);
    tcase_add_test(tc, test_superslab_chains);
    if (_hak_plan_depth > 0) {
        tcase_add_test(tc, test_idle_gives_back);
        tcase_add_test(tc, test_cache_use_is_not_idle);
    }
    if (_hak_plan_depth > 1)
        tcase_add_test(tc, test_refill_only_the_top);
#if HAK_TIER_TLS_LIST
    /* Only the tier that misses is refilled, and only a refill grows. */
    if (_hak_plan_ops[0] == &_hak_tls_list_ops) {
        tcase_add_test(tc, test_swings_grow_the_cap);
        tcase_add_test(tc, test_refills_fill_the_batch);
        tcase_add_test(tc, test_spill_keeps_the_oldest);
    }
    tcase_add_test(tc, test_growth_is_bounded);
#endif
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
