/* hakmem unit tests: the SuperSlab tier, white-box.
 *
 * Each scenario runs its actors in fresh threads, so each actor starts
 * with no slabs, and uses a class of its own, so slabs left abandoned by
 * one scenario are not adopted by another (check also forks per test).
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hakmem.h"
#include "internal.h"
#include "tier.h"
#include "ss_locked.h"

static struct hak_thread *me(void)
{
    bool locked;
    struct hak_thread *t = _hak_thread_get(&locked);
    ck_assert(!locked);
    return t;
}

static void run(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fn, arg), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* Free lists are walked as hakmem walks them: under valgrind a free block
 * is NOACCESS but for the instant its link is read (track.h). */
static size_t list_len(void *head)
{
    size_t n = 0;
    for (void *b = head; b != NULL; b = _hak_link_get(b))
        n++;
    return n;
}

static bool list_has(void *head, void *x)
{
    for (void *b = head; b != NULL; b = _hak_link_get(b))
        if (b == x)
            return true;
    return false;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- carve a whole slab and give it back ---- */

static void *carve_all(void *arg)
{
    unsigned cls = *(unsigned *)arg;
    struct hak_thread *t = me();
    size_t bs = hak_class_size(cls);
    void *b0 = ss_pop(t, cls);
    ck_assert_ptr_nonnull(b0);
    struct hak_slab *s = _hak_slab_of(b0);
    uint32_t cap = s->capacity;
    ck_assert_uint_eq(cap, HAK_SLAB_SIZE / bs);
    void **blocks = calloc(cap, sizeof *blocks);
    /* Distinct blocks: one mark per block index, not a pairwise compare
     * (check writes a record per assertion; that many made the test time
     * out on a loaded machine). */
    bool *seen = calloc(cap, sizeof *seen);
    blocks[0] = b0;
    seen[((uintptr_t)b0 - (uintptr_t)_hak_slab_start(s)) / bs] = true;
    for (uint32_t i = 1; i < cap; i++) {
        blocks[i] = ss_pop(t, cls);
        ck_assert_ptr_eq(_hak_slab_of(blocks[i]), s);
        size_t off = (uintptr_t)blocks[i] - (uintptr_t)_hak_slab_start(s);
        ck_assert_uint_eq(off % bs, 0);
        ck_assert_uint_eq((uintptr_t)blocks[i] % 16, 0);
        ck_assert_msg(!seen[off / bs], "block %p handed out twice", blocks[i]);
        seen[off / bs] = true;
    }
    free(seen);
    ck_assert_uint_eq(s->used, cap);
    ck_assert_ptr_null(s->free);
    ck_assert_ptr_eq(s->bump, _hak_slab_end(s));
    for (uint32_t i = 0; i < cap; i++)
        ss_push(t, blocks[i]);
    ck_assert_uint_eq(s->used, 0);
    ck_assert_uint_eq(list_len(s->free), cap);
    free(blocks);
    return NULL;
}

START_TEST(carve_and_return_conserves_counts)
{
    unsigned classes[] = {0, 7, 19, 30, HAK_NCLASSES - 1};
    run(carve_all, &classes[_i]);
}
END_TEST

/* ---- a remote free reaches the owner only through a drain ---- */

struct remote_case {
    unsigned cls;
    pthread_barrier_t go, freed, checked;
    void *blocks[4];
    void *victim;
};

static void *remote_owner(void *arg)
{
    struct remote_case *rc = arg;
    struct hak_thread *t = me();
    struct hak_slab *s = NULL;
    for (int i = 0; i < 4; i++) {
        rc->blocks[i] = ss_pop(t, rc->cls);
        s = _hak_slab_of(rc->blocks[i]);
    }
    ck_assert_uint_eq(s->capacity, 4);         /* 16 KiB blocks */
    ck_assert_ptr_null(s->free);
    rc->victim = rc->blocks[1];
    pthread_barrier_wait(&rc->go);
    pthread_barrier_wait(&rc->freed);
    /* Queued remotely, not yet visible to the owner's list. */
    ck_assert_ptr_eq(_hak_remote_head(atomic_load(&s->xremote)), rc->victim);
    ck_assert_uint_eq(_hak_remote_len(atomic_load(&s->xremote)), 1);
    ck_assert(!list_has(s->free, rc->victim));
    ck_assert_uint_eq(s->used, 4);
    /* The slab is empty locally: the pop drains and returns the victim. */
    void *b = ss_pop(t, rc->cls);
    ck_assert_ptr_eq(b, rc->victim);
    ck_assert_uint_eq(atomic_load(&s->xremote), 0);
    ck_assert_uint_eq(s->used, 4);
    for (int i = 0; i < 4; i++)
        ss_push(t, rc->blocks[i]);
    pthread_barrier_wait(&rc->checked);
    return NULL;
}

static void *remote_freer(void *arg)
{
    struct remote_case *rc = arg;
    struct hak_thread *t = me();
    pthread_barrier_wait(&rc->go);
    ss_push(t, rc->victim);
    /* Staged in the freer's remote run, then queued with one push. (Under
     * valgrind a remote free is queued at once: track.h.) */
    if (!HAK_TRACK_ON) {
        ck_assert_uint_eq(atomic_load(&_hak_slab_of(rc->victim)->xremote), 0);
        ck_assert_uint_eq(t->run[_hak_run_slot(rc->victim)].n, 1);
    }
    _hak_ss_run_flush(t);
    ck_assert_uint_eq(t->run_mask, 0);
    pthread_barrier_wait(&rc->freed);
    pthread_barrier_wait(&rc->checked);
    return NULL;
}

START_TEST(remote_free_reaches_owner_after_drain)
{
    struct remote_case rc = {.cls = hak_size_class(16384)};
    pthread_barrier_init(&rc.go, NULL, 2);
    pthread_barrier_init(&rc.freed, NULL, 2);
    pthread_barrier_init(&rc.checked, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, remote_owner, &rc);
    pthread_create(&b, NULL, remote_freer, &rc);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}
END_TEST

/* ---- a run whose burst is over goes to its queue ---- */

/* 2 * 64 - 1 blocks: with the one before them, 128 remote frees, two
 * whole RUN_MAX (64, superslab.c) windows. */
#define BURST 127

struct burst_case {
    void *x;
    void *burst[BURST];
};

static void *burst_freer(void *arg)
{
    struct burst_case *bc = arg;
    struct hak_thread *t = me();
    struct hak_slab *s = _hak_slab_of(bc->x);
    unsigned slot = _hak_run_slot(bc->x);
    ss_push(t, bc->x);
    /* Under valgrind a remote free is queued at once (track.h): no run. */
    if (HAK_TRACK_ON) {
        ck_assert_uint_eq(t->run_mask, 0);
        ck_assert_uint_eq(_hak_remote_len(atomic_load(&s->xremote)), 1);
        for (int i = 0; i < BURST; i++)
            ss_push(t, bc->burst[i]);
        return NULL;
    }
    for (int i = 0; i < 62; i++)
        ss_push(t, bc->burst[i]);
    /* 63 frees since x's: its run waits. */
    ck_assert_uint_eq(t->run[slot].n, 1);
    ck_assert_uint_eq(atomic_load(&s->xremote), 0);
    for (int i = 62; i < BURST; i++)
        ss_push(t, bc->burst[i]);
    /* A whole window without a block for it: on x's slab's queue, though
     * no other slab came for its slot. */
    ck_assert_uint_eq(t->run[slot].n, 0);
    ck_assert_ptr_eq(_hak_remote_head(atomic_load(&s->xremote)), bc->x);
    ck_assert_uint_eq(_hak_remote_len(atomic_load(&s->xremote)), 1);
    _hak_ss_run_flush(t);
    return NULL;
}

START_TEST(run_left_behind_by_a_burst_goes_home)
{
    struct hak_thread *t = me();
    struct burst_case bc;
    unsigned big = hak_size_class(2048), small[] = {hak_size_class(16), hak_size_class(32)};
    bc.x = ss_pop(t, big);
    /* The burst from a slab whose run is not x's (slabs HAK_RUNS apart
     * share one). */
    unsigned cls = small[0];
    bc.burst[0] = ss_pop(t, cls);
    if (_hak_run_slot(bc.burst[0]) == _hak_run_slot(bc.x)) {
        ss_push(t, bc.burst[0]);
        cls = small[1];
        bc.burst[0] = ss_pop(t, cls);
    }
    for (int i = 1; i < BURST; i++)
        bc.burst[i] = ss_pop(t, cls);
    ck_assert_ptr_eq(_hak_slab_of(bc.burst[BURST - 1]), _hak_slab_of(bc.burst[0]));
    ck_assert_uint_ne(_hak_run_slot(bc.x), _hak_run_slot(bc.burst[0]));
    run(burst_freer, &bc);
}
END_TEST

/* ---- remote frees of several slabs in turn: one push per slab ---- */

#define TURNS 4

struct turns_case {
    void *a[TURNS], *b[TURNS];
};

static void *turns_freer(void *arg)
{
    struct turns_case *tc = arg;
    struct hak_thread *t = me();
    struct hak_slab *sa = _hak_slab_of(tc->a[0]), *sb = _hak_slab_of(tc->b[0]);
    for (int i = 0; i < TURNS; i++) {
        ss_push(t, tc->a[i]);
        ss_push(t, tc->b[i]);
    }
    /* Each slab's blocks wait in a run of their own: a free of the other
     * slab in between did not send them. (Under valgrind a remote free is
     * queued at once: track.h.) */
    if (!HAK_TRACK_ON) {
        ck_assert_uint_eq(atomic_load(&sa->xremote), 0);
        ck_assert_uint_eq(atomic_load(&sb->xremote), 0);
        ck_assert_uint_eq(t->run[_hak_run_slot(tc->a[0])].n, TURNS);
        ck_assert_uint_eq(t->run[_hak_run_slot(tc->b[0])].n, TURNS);
    }
    _hak_ss_run_flush(t);
    ck_assert_uint_eq(t->run_mask, 0);
    ck_assert_uint_eq(_hak_remote_len(atomic_load(&sa->xremote)), TURNS);
    ck_assert_uint_eq(_hak_remote_len(atomic_load(&sb->xremote)), TURNS);
    return NULL;
}

START_TEST(interleaved_remote_frees_pushed_per_slab)
{
    struct hak_thread *t = me();
    struct turns_case tc;
    unsigned a = hak_size_class(4096), others[] = {hak_size_class(5120), hak_size_class(3072)};
    for (int i = 0; i < TURNS; i++)
        tc.a[i] = ss_pop(t, a);
    /* b from a slab whose run is not a's (slabs HAK_RUNS apart share one). */
    void *probe = ss_pop(t, others[0]);
    unsigned b = others[0];
    if (_hak_run_slot(probe) == _hak_run_slot(tc.a[0])) {
        ss_push(t, probe);
        b = others[1];
        probe = ss_pop(t, b);
    }
    tc.b[0] = probe;
    for (int i = 1; i < TURNS; i++)
        tc.b[i] = ss_pop(t, b);
    ck_assert_ptr_eq(_hak_slab_of(tc.a[TURNS - 1]), _hak_slab_of(tc.a[0]));
    ck_assert_ptr_eq(_hak_slab_of(tc.b[TURNS - 1]), _hak_slab_of(tc.b[0]));
    ck_assert_uint_ne(_hak_run_slot(tc.a[0]), _hak_run_slot(tc.b[0]));
    run(turns_freer, &tc);
}
END_TEST

/* ---- a block freed by another thread goes home, not into its caches ---- */

#define HOME_N 8
#define HOME_SIZE 48

static void *home_freer(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < HOME_N; i++) {
        hak_free(blocks[i]);
        /* Handing it out again here would put this thread's data on the
         * owner's cache lines (passive false sharing). */
        char *q = hak_malloc(HOME_SIZE);
        ck_assert_ptr_nonnull(q);
        for (int k = 0; k < HOME_N; k++)
            ck_assert_ptr_ne(q, blocks[k]);
        memset(q, 1, HOME_SIZE);
        hak_free(q);
    }
    return NULL;
}

START_TEST(remote_free_goes_home)
{
    void *blocks[HOME_N];
    for (int i = 0; i < HOME_N; i++)
        blocks[i] = hak_malloc(HOME_SIZE);
    run(home_freer, blocks);
}
END_TEST

/* ---- an exited thread's slab is abandoned, then adopted ---- */

struct adopt_case {
    unsigned cls;
    void *blocks[4];
    void *fresh;
    uint64_t adopter_id;
};

static void *adopt_leaver(void *arg)
{
    struct adopt_case *ac = arg;
    struct hak_thread *t = me();
    for (int i = 0; i < 4; i++)
        ac->blocks[i] = ss_pop(t, ac->cls);
    return NULL;                                /* exits holding all four */
}

static void *adopt_taker(void *arg)
{
    struct adopt_case *ac = arg;
    struct hak_thread *t = me();
    ac->adopter_id = t->id;
    ss_push(t, ac->blocks[2]);             /* remote: not the owner yet */
    ac->fresh = ss_pop(t, ac->cls);
    for (int i = 0; i < 4; i++)
        if (i != 2)
            ss_push(t, ac->blocks[i]);
    ss_push(t, ac->fresh);
    return NULL;
}

START_TEST(exited_thread_slab_is_adopted)
{
    struct adopt_case ac = {.cls = hak_size_class(12288)};
    run(adopt_leaver, &ac);
    struct hak_slab *s = _hak_slab_of(ac.blocks[0]);
    ck_assert_uint_eq(atomic_load(&s->xowner), 0);
    struct hak_stats before, after;
    hak_stats_get(&before, sizeof before);
    run(adopt_taker, &ac);
    hak_stats_get(&after, sizeof after);
    /* The adopter drained the remote free and served it from the slab. */
    ck_assert_ptr_eq(ac.fresh, ac.blocks[2]);
    ck_assert_uint_gt(after.adoptions, before.adoptions);
}
END_TEST

/* ---- the free that empties an abandoned slab gives it back ---- */

static void *reap_leaver(void *arg)
{
    struct adopt_case *ac = arg;
    struct hak_thread *t = me();
    for (int i = 0; i < 4; i++)
        ac->blocks[i] = ss_pop(t, ac->cls);
    return NULL;
}

START_TEST(abandoned_slab_released_by_last_free)
{
    struct adopt_case ac = {.cls = hak_size_class(10240)};
    run(reap_leaver, &ac);
    struct hak_slab *s = _hak_slab_of(ac.blocks[0]);
    struct hak_thread *t = me();
    ck_assert_uint_eq(atomic_load(&s->xowner), 0);
    for (int i = 0; i < 3; i++)
        ss_push(t, ac.blocks[i]);
    _hak_ss_run_flush(t);
    ck_assert(s->in_use);                       /* one block still out */
    ss_push(t, ac.blocks[3]);
    _hak_ss_run_flush(t);
    /* Back in the pool at once, not at the next sweep. */
    ck_assert(!s->in_use);
}
END_TEST

/* ---- the remote free that empties a live owner's full slab gives it back ---- */

#define FULL_MAX 16
struct full_case {
    unsigned cls;
    size_t n;                                   /* blocks of the first slab */
    void *blocks[FULL_MAX], *extra, *extra2;
    pthread_barrier_t filled, freed;
};

static void *full_owner(void *arg)
{
    struct full_case *fc = arg;
    struct hak_thread *t = me();
    void *b[FULL_MAX + 1];
    /* One more block than the first slab holds: that slab goes to the
     * full list, the last block comes from a second slab. */
    size_t got = _hak_ss_pop_batch(t, fc->cls, b, FULL_MAX + 1);
    ck_assert_uint_eq(got, FULL_MAX + 1);
    struct hak_slab *s = _hak_slab_of(b[0]);
    fc->n = s->capacity;
    ck_assert_uint_le(fc->n, FULL_MAX);
    for (size_t i = 0; i < fc->n; i++) {
        ck_assert_ptr_eq(_hak_slab_of(b[i]), s);
        fc->blocks[i] = b[i];
    }
    ck_assert_ptr_ne(_hak_slab_of(b[fc->n]), s);
    _hak_ss_push_batch(t, b + fc->n + 1, FULL_MAX - fc->n);
    fc->extra = b[fc->n];
    pthread_barrier_wait(&fc->filled);
    pthread_barrier_wait(&fc->freed);           /* alive, idle, owning s */
    _hak_ss_push_batch(t, &fc->extra, 1);
    return NULL;
}

/* Starts a thread that fills a slab of cls (fc->blocks) and stays alive,
 * owning it, until full_case_end; returns the slab. */
static struct hak_slab *full_case_start(struct full_case *fc, unsigned cls, pthread_t *owner)
{
    *fc = (struct full_case){.cls = cls};
    pthread_barrier_init(&fc->filled, NULL, 2);
    pthread_barrier_init(&fc->freed, NULL, 2);
    ck_assert_int_eq(pthread_create(owner, NULL, full_owner, fc), 0);
    pthread_barrier_wait(&fc->filled);
    return _hak_slab_of(fc->blocks[0]);
}

static void full_case_end(struct full_case *fc, pthread_t owner)
{
    pthread_barrier_wait(&fc->freed);
    ck_assert_int_eq(pthread_join(owner, NULL), 0);
}

START_TEST(full_slab_released_by_last_remote_free)
{
    struct full_case fc;
    pthread_t owner;
    struct hak_slab *s = full_case_start(&fc, hak_size_class(7168), &owner);
    struct hak_thread *t = me();
    /* One block first (fewer than half: the slab stays its owner's), then
     * the rest in one run, which brings every block back (with the
     * owner's lock before its CAS, or, if that was busy, by abandoning the
     * slab after it: either way the slab goes back). */
    _hak_ss_push_batch(t, fc.blocks, 1);
    ck_assert(s->in_use);
    ck_assert_ptr_nonnull(atomic_load(&s->xowner_t));
    _hak_ss_push_batch(t, fc.blocks + 1, fc.n - 1);
    if (HAK_HEAP_LOCKED) {
        /* Back in the pool although its owner never came back for it. */
        ck_assert(!s->in_use);
    } else {
        /* No cache tier: the owner's fast paths work on its slabs without
         * a lock, so the blocks wait in the queue for the owner. */
        ck_assert(s->in_use);
        ck_assert_uint_eq(_hak_remote_len(atomic_load(&s->xremote)), fc.n);
    }
    full_case_end(&fc, owner);
}
END_TEST

/* ---- a live owner's full slab, half of it freed by others, is adopted ---- */

static void *half_adopter(void *arg)
{
    struct full_case *fc = arg;
    struct hak_thread *t = me();
    void *b = ss_pop(t, fc->cls);
    /* One of the blocks freed, from the slab it took over. */
    ck_assert_ptr_eq(_hak_slab_of(b), _hak_slab_of(fc->blocks[0]));
    ck_assert_uint_eq(atomic_load(&_hak_slab_of(b)->xowner), t->id);
    bool freed = false;
    for (size_t i = 0; i < fc->n - 1; i++)
        freed |= b == fc->blocks[i];
    ck_assert(freed);
    fc->extra2 = b;
    return NULL;                                /* exits: the slab is abandoned again */
}

START_TEST(half_freed_full_slab_adopted)
{
    struct full_case fc;
    pthread_t owner;
    struct hak_slab *s = full_case_start(&fc, hak_size_class(6144), &owner);
    struct hak_thread *t = me();
    size_t half = (fc.n + 1) / 2, pushed = half - 1;
    _hak_ss_push_batch(t, fc.blocks, pushed);
    ck_assert_ptr_nonnull(atomic_load(&s->xowner_t));  /* not yet half */
    /* The push that reaches half moves it, unless a lock it only tries
     * was busy (the purger's sweep, say): then a later push does. */
    do
        _hak_ss_push_batch(t, fc.blocks + pushed++, 1);
    while (HAK_HEAP_LOCKED && atomic_load(&s->xowner) != 0 && pushed < fc.n - 1);
    half = pushed;
    if (HAK_HEAP_LOCKED) {
        /* Its owner, alive and idle, no longer holds it: it waits on the
         * abandoned list with its holes for a thread that needs the class. */
        ck_assert_uint_eq(atomic_load(&s->xowner), 0);
        ck_assert(s->in_use);
        struct hak_stats before, after;
        hak_stats_get(&before, sizeof before);
        run(half_adopter, &fc);
        hak_stats_get(&after, sizeof after);
        ck_assert_uint_gt(after.adoptions, before.adoptions);
        _hak_ss_push_batch(t, &fc.extra2, 1);
    } else {
        /* No cache tier: no other thread may take the owner's lists. */
        ck_assert_ptr_nonnull(atomic_load(&s->xowner_t));
    }
    _hak_ss_push_batch(t, fc.blocks + half, fc.n - half);
    _hak_ss_run_flush(t);
    if (HAK_HEAP_LOCKED)
        ck_assert(!s->in_use);                  /* the last free gave it back */
    full_case_end(&fc, owner);
}
END_TEST

/* ---- a remote free to a full slab is found before the thread grows ---- */

#define NOTE_SLABS 10                   /* more than one short scan looks at */

struct note_case {
    unsigned cls;
    void *freed;                        /* a block of the newest full slab */
    pthread_barrier_t filled, freed_it;
};

static void *note_freer(void *arg)
{
    struct note_case *nc = arg;
    pthread_barrier_wait(&nc->filled);
    _hak_ss_push_batch(me(), &nc->freed, 1);
    pthread_barrier_wait(&nc->freed_it);
    return NULL;
}

/* The owner is a fresh thread of its own (as every actor here): without
 * check's fork (under valgrind) the test's thread has run other tests. */
static void *note_owner(void *arg)
{
    struct note_case *nc = arg;
    struct hak_thread *t = me();
    void *first = ss_pop(t, nc->cls);
    uint32_t cap = _hak_slab_of(first)->capacity;
    size_t n = (size_t)NOTE_SLABS * cap;
    void **b = calloc(n, sizeof *b);
    b[0] = first;
    for (size_t i = 1; i < n; i++)
        b[i] = ss_pop(t, nc->cls);
    /* Nine slabs are on the full list, one is current. The short scan
     * that runs when the current one is spent looks at the first eight of
     * the list: the remote free goes to the last. */
    struct hak_slab *last = t->ss[nc->cls].full_tail;
    ck_assert_ptr_nonnull(last);
    for (size_t i = 0; i < n && nc->freed == NULL; i++)
        if (_hak_slab_of(b[i]) == last)
            nc->freed = b[i];
    ck_assert_ptr_nonnull(nc->freed);
    pthread_barrier_wait(&nc->filled);
    pthread_barrier_wait(&nc->freed_it);
    uint64_t bit = (uint64_t)1 << nc->cls;
    if (HAK_HEAP_LOCKED)
        ck_assert(atomic_load(&t->xfull_remote) & bit);
    /* The current slab is spent: the next block is the one freed remotely,
     * not one of a new slab. */
    void *next = ss_pop(t, nc->cls);
    ck_assert_ptr_eq(next, nc->freed);
    if (HAK_HEAP_LOCKED)
        ck_assert(!(atomic_load(&t->xfull_remote) & bit));
    for (size_t i = 0; i < n; i++)
        ss_push(t, b[i]);
    free(b);
    return NULL;
}

START_TEST(remote_free_to_full_slab_found_before_growing)
{
    struct note_case nc = {.cls = hak_size_class(10240)};
    pthread_barrier_init(&nc.filled, NULL, 2);
    pthread_barrier_init(&nc.freed_it, NULL, 2);
    pthread_t owner, freer;
    ck_assert_int_eq(pthread_create(&owner, NULL, note_owner, &nc), 0);
    ck_assert_int_eq(pthread_create(&freer, NULL, note_freer, &nc), 0);
    ck_assert_int_eq(pthread_join(freer, NULL), 0);
    ck_assert_int_eq(pthread_join(owner, NULL), 0);
}
END_TEST

/* ---- empty SuperSlabs go back to the backend ---- */

#define SS_FILL 3
static void *fill_superslabs(void *arg)
{
    void **first = arg;
    struct hak_thread *t = me();
    unsigned cls = HAK_NCLASSES - 1;            /* 2 blocks per slab */
    size_t n = SS_FILL * 2 * (HAK_SLABS_PER_SS - 1);
    void **b = calloc(n, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        b[i] = ss_pop(t, cls);
        ck_assert_uint_eq(_hak_map_lookup(b[i]) & HAK_CHUNK_KIND_MASK, HAK_CHUNK_SS);
    }
    for (int k = 0; k < SS_FILL; k++)
        first[k] = b[k * 2 * (HAK_SLABS_PER_SS - 1) + 1];
    for (size_t i = 0; i < n; i++)
        ss_push(t, b[i]);
    free(b);
    return NULL;                                /* exit gives back the last slab */
}

START_TEST(empty_superslab_is_released)
{
    void *first[SS_FILL];
    struct hak_stats before, after;
    hak_stats_get(&before, sizeof before);
    run(fill_superslabs, first);
    hak_trim();                                 /* rather than wait for the decay */
    hak_stats_get(&after, sizeof after);
    ck_assert_uint_le(after.superslabs, before.superslabs + HAK_SS_KEEP_EMPTY);
    int unmapped = 0;
    for (int k = 0; k < SS_FILL; k++)
        unmapped += _hak_map_lookup(first[k]) == 0;
    ck_assert_int_ge(unmapped, 1);
}
END_TEST

/* ---- a freed slab is handed out again before a cold one ---- */

/* Two classes of two blocks per slab take turns, each round holding
 * CHURN_SLABS slabs, more than a SuperSlab has: after the first round has
 * made them resident, the others need no more, wherever the free ones
 * are. */
#define CHURN_SLABS 40
static void *churn(void *arg)
{
    size_t *grown = arg;
    struct hak_thread *t = me();
    size_t n = 2 * CHURN_SLABS, first = 0, peak = 0;
    void **b = calloc(n, sizeof *b);
    for (int round = 0; round < 10; round++) {
        unsigned cls = HAK_NCLASSES - 1 - (round & 1);
        for (size_t i = 0; i < n; i++) {
            b[i] = ss_pop(t, cls);
            ck_assert_ptr_nonnull(b[i]);
            ck_assert_uint_eq(_hak_slab_of(b[i])->capacity, 2);
            /* Handed out past the API, which tells memcheck. */
            hak_track_mem_undefined(b[i], hak_class_size(cls));
            memset(b[i], round, hak_class_size(cls));
        }
        size_t r = _hak_ss_resident();
        first = round == 0 ? r : first;
        peak = r > peak ? r : peak;
        for (size_t i = 0; i < n; i++)
            ss_push(t, b[i]);
    }
    free(b);
    *grown = peak - first;
    return NULL;
}

START_TEST(freed_slabs_reused_before_cold_ones)
{
    /* Freed slabs stay resident for the decay (with none they would be
     * decommitted at once, and any order would pass). */
    _hak_opt.decay_ms = HAK_DEFAULT_DECAY_MS;
    size_t grown;
    run(churn, &grown);
    /* Each class keeps its current slab, empty or not (the stack gives it
     * back when the class goes idle): the second class's first round
     * takes one slab more than the first class left free. */
    ck_assert_uint_le(grown, 2 * HAK_SLAB_SIZE);
}
END_TEST

/* ---- blocks other threads gave back are reused before fresh ones ---- */

#define REUSE_N 8

struct reuse_case {
    unsigned cls;
    pthread_barrier_t taken, freed;
    void *blocks[REUSE_N];
};

static void *reuse_freer(void *arg)
{
    struct reuse_case *rc = arg;
    struct hak_thread *t = me();
    for (int round = 0; round < 2; round++) {
        pthread_barrier_wait(&rc->taken);
        for (int i = 0; i < REUSE_N; i++)
            ss_push(t, rc->blocks[i]);
        _hak_ss_run_flush(t);
        pthread_barrier_wait(&rc->freed);
    }
    return NULL;
}

static void *reuse_owner(void *arg)
{
    struct reuse_case *rc = arg;
    struct hak_thread *t = me();
    ck_assert_uint_eq(_hak_ss_pop_batch(t, rc->cls, rc->blocks, REUSE_N), REUSE_N);
    struct hak_slab *s = _hak_slab_of(rc->blocks[0]);
    /* The rest of the page the first pop carved, so the free list is
     * empty and the fresh area next. */
    void *rest[HAK_PAGE_SIZE / 256];
    size_t nrest = 0;
    while (s->free != NULL) {
        ck_assert_uint_lt(nrest, sizeof rest / sizeof rest[0]);
        ck_assert_uint_eq(_hak_ss_pop_batch(t, rc->cls, &rest[nrest++], 1), 1);
    }
    ck_assert((char *)s->bump < (char *)_hak_slab_end(s));
    for (int round = 0; round < 2; round++) {
        char *bump = s->bump;
        pthread_barrier_wait(&rc->taken);
        pthread_barrier_wait(&rc->freed);
        ck_assert_uint_eq(_hak_remote_len(atomic_load(&s->xremote)), REUSE_N);
        /* A refill as an array, then as a chain (not under valgrind, whose
         * refills take arrays): both take the slab's free list (empty),
         * then the blocks given back, and leave its fresh area alone, even
         * when they want twice as many: those would be fresh pages while
         * more blocks may be on their way back. (Under valgrind every
         * block is a slow pop, and the refill takes what it wants.) */
        void *again[2 * REUSE_N];
        if (HAK_TRACK_ON) {
            ck_assert_uint_eq(_hak_ss_pop_batch(t, rc->cls, again, REUSE_N), REUSE_N);
        } else if (round == 0) {
            ck_assert_uint_eq(_hak_ss_pop_batch(t, rc->cls, again, 2 * REUSE_N), REUSE_N);
        } else {
            void *head, *tail;
            ck_assert_uint_eq(_hak_ss_pop_chain(t, rc->cls, 2 * REUSE_N, &head, &tail), REUSE_N);
            _hak_chain_to_array(&(void *){head}, tail, REUSE_N, again, REUSE_N);
            /* The drained queue fits whole: taken unwalked, it ends the
             * chain with a NULL link and leaves the tail unknown. */
            ck_assert_ptr_null(tail);
            ck_assert_ptr_null(*(void **)again[REUSE_N - 1]);
        }
        ck_assert_ptr_eq(s->bump, bump);
        ck_assert_uint_eq(atomic_load(&s->xremote), 0);
        qsort(again, REUSE_N, sizeof again[0], ptr_cmp);
        qsort(rc->blocks, REUSE_N, sizeof rc->blocks[0], ptr_cmp);
        ck_assert_mem_eq(again, rc->blocks, REUSE_N * sizeof again[0]);
    }
    for (int i = 0; i < REUSE_N; i++)
        ss_push(t, rc->blocks[i]);
    for (size_t i = 0; i < nrest; i++)
        ss_push(t, rest[i]);
    return NULL;
}

START_TEST(given_back_blocks_reused_before_fresh_ones)
{
    struct reuse_case rc = {.cls = hak_size_class(256)};
    pthread_barrier_init(&rc.taken, NULL, 2);
    pthread_barrier_init(&rc.freed, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, reuse_owner, &rc);
    pthread_create(&b, NULL, reuse_freer, &rc);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}
END_TEST

/* ---- a chain refill carves a page, more only while the class keeps on ---- */

#define CARVE_WANT 256

/* A chain refill of up to CARVE_WANT blocks of cls, as the stack makes it
 * at the thread's slow path number tick; its blocks go to out (*got of
 * them). Returns how many it carved: the bump pointer's move in cls's
 * current slab, which stays current. */
static size_t carve_refill(struct hak_thread *t, unsigned cls, uint32_t tick, void **out,
                           size_t *got)
{
    struct hak_slab *s = t->ss[cls].cur;
    char *bump = s != NULL ? s->bump : NULL;
    t->idle.tick = t->idle.last[cls] = tick;
    void *head, *tail;
    size_t k = _hak_ss_pop_chain(t, cls, CARVE_WANT, &head, &tail);
    _hak_chain_to_array(&(void *){head}, tail, k, out, k);
    *got = k;
    if (s == NULL)
        s = t->ss[cls].cur;
    ck_assert_ptr_eq(t->ss[cls].cur, s);
    return (size_t)((char *)s->bump - (bump != NULL ? bump : (char *)_hak_slab_start(s))) /
           hak_class_size(cls);
}

/* The blocks of cls in (HAK_PAGE_SIZE << shift) bytes, at least one. */
static size_t carve_blocks(unsigned cls, unsigned shift)
{
    size_t n = (HAK_PAGE_SIZE << shift) / hak_class_size(cls);
    return n > 0 ? n : 1;
}

/* Static: an array from malloc would be the thread's first block of some
 * class, carved by a refill of the tier above. */
static void *carve_out[4 * CARVE_WANT];

static void *carve_grower(void *arg)
{
    unsigned cls = *(unsigned *)arg;
    struct hak_thread *t = me();
    void **b = carve_out;
    size_t n = 0, got;
    uint32_t tick = 100;
    /* The first refill makes the slab and carves a page's worth; each
     * that comes within HAK_CARVE_TICKS slow paths doubles it. */
    for (unsigned shift = 0; shift < 3; shift++, tick += HAK_CARVE_TICKS) {
        ck_assert_uint_eq(carve_refill(t, cls, tick, b + n, &got), carve_blocks(cls, shift));
        ck_assert_uint_eq(got, carve_blocks(cls, shift));
        n += got;
    }
    /* One that comes later is back at a page, and doubles again. */
    tick += HAK_CARVE_TICKS;
    ck_assert_uint_eq(carve_refill(t, cls, tick, b + n, &got), carve_blocks(cls, 0));
    n += got;
    ck_assert_uint_eq(carve_refill(t, cls, ++tick, b + n, &got), carve_blocks(cls, 1));
    n += got;
    /* One that finds blocks the program freed takes them, and a page. */
    for (int i = 0; i < 3; i++)
        ss_push(t, b[--n]);
    ck_assert_uint_eq(carve_refill(t, cls, ++tick, b + n, &got), carve_blocks(cls, 0));
    ck_assert_uint_eq(got, 3 + carve_blocks(cls, 0));
    n += got;
    for (size_t i = 0; i < n; i++)
        ss_push(t, b[i]);
    return NULL;
}

/* Not under valgrind, whose refills take arrays, not chains. */
START_TEST(chain_refill_carves_a_page_then_more)
{
    if (HAK_TRACK_ON)
        return;
    /* 10 blocks a page (170 a slab); and 4 KiB, 16 a slab. */
    unsigned cls = hak_size_class(_i == 0 ? 384 : 4096);
    run(carve_grower, &cls);
}
END_TEST

/* ---- a SuperSlab is not unmapped under a pusher still looking at it ---- */

/* As fill_superslabs, but before the blocks go back a pusher is counted
 * on a slab of each SuperSlab, as if its CAS were done and its last look
 * at the slab to come (remote_push). */
static void *fill_watched(void *arg)
{
    void **first = arg;
    struct hak_thread *t = me();
    unsigned cls = HAK_NCLASSES - 1;
    size_t n = SS_FILL * 2 * (HAK_SLABS_PER_SS - 1);
    void **b = calloc(n, sizeof *b);
    for (size_t i = 0; i < n; i++)
        b[i] = ss_pop(t, cls);
    for (int k = 0; k < SS_FILL; k++) {
        first[k] = b[k * 2 * (HAK_SLABS_PER_SS - 1) + 1];
        atomic_store(&_hak_slab_of(first[k])->xpushers, 1);
    }
    for (size_t i = 0; i < n; i++)
        ss_push(t, b[i]);
    free(b);
    return NULL;
}

/* _i = 0: no decay, SuperSlabs unmapped as they empty; 1: the decay's
 * (which the purger the first free slab starts reads: not restored). */
START_TEST(watched_superslab_stays_mapped)
{
    _hak_opt.decay_ms = _i == 0 ? 0 : HAK_DEFAULT_DECAY_MS;
    void *first[SS_FILL];
    run(fill_watched, first);
    hak_trim();
    for (int k = 0; k < SS_FILL; k++)
        ck_assert_uint_ne(_hak_map_lookup(first[k]), 0);
    for (int k = 0; k < SS_FILL; k++)
        atomic_store(&_hak_slab_of(first[k])->xpushers, 0);
    hak_trim();
    int unmapped = 0;
    for (int k = 0; k < SS_FILL; k++)
        unmapped += _hak_map_lookup(first[k]) == 0;
    ck_assert_int_ge(unmapped, 1);
}
END_TEST

/* ---- a slab its thread empties is that thread's next slab ---- */

/* Spares are under their thread's heap lock, which the purger takes too:
 * these cases take and give blocks through the calls that hold it, as
 * the cache tiers do. */
static void *take(struct hak_thread *t, unsigned cls)
{
    void *b = NULL;
    ck_assert_uint_eq(_hak_ss_pop_batch(t, cls, &b, 1), 1);
    return b;
}

static void give(struct hak_thread *t, void *b) { _hak_ss_push_batch(t, &b, 1); }

static size_t slab_resident_pages(const struct hak_slab *s)
{
    unsigned char vec[HAK_SLAB_SIZE / HAK_PAGE_SIZE];
    ck_assert_int_eq(mincore(_hak_slab_start(s), HAK_SLAB_SIZE, vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < sizeof vec; i++)
        n += vec[i] & 1;
    return n;
}

/* Takes blocks of cls (two per slab) until slab n of them is full, and
 * gives back those of the first n - 1 slabs (the last, current, stays):
 * each of those empties, and becomes a spare or goes to the pool. */
static void **empty_slabs(struct hak_thread *t, unsigned cls, size_t n, struct hak_slab **first)
{
    ck_assert_uint_eq(HAK_SLAB_SIZE / hak_class_size(cls), 2);
    void **b = calloc(2 * n, sizeof *b);
    for (size_t i = 0; i < 2 * n; i++) {
        b[i] = take(t, cls);
        hak_track_mem_undefined(b[i], hak_class_size(cls));
        memset(b[i], 1, hak_class_size(cls));
    }
    *first = _hak_slab_of(b[0]);
    ck_assert_ptr_eq(_hak_slab_of(b[1]), *first);
    ck_assert_uint_gt(slab_resident_pages(*first), 0);
    ck_assert_ptr_eq(t->ss[cls].cur, _hak_slab_of(b[2 * n - 1]));
    for (size_t i = 0; i < 2 * (n - 1); i++)
        give(t, b[i]);
    return b;
}

static void *spare_reuse(void *arg)
{
    (void)arg;
    struct hak_thread *t = me();
    unsigned a = hak_size_class(24576), b = hak_size_class(20480);
    ck_assert_uint_eq(t->spare_max, HAK_SPARE_MAX);
    struct hak_slab *s;
    void **x = empty_slabs(t, a, 2, &s);
    ck_assert_uint_eq(t->nspare, 1);
    ck_assert_ptr_eq(t->spare, s);
    ck_assert_int_eq(s->list, HAK_SLAB_SPARE);
    ck_assert(!s->in_use);
    ck_assert_int_eq(hak_heap_check(), 0);
    /* Free as a pool slab is: a free into it fails the block check. */
    ck_assert_uint_eq(s->capacity, 0);
    void *y = take(t, b);
    ck_assert_ptr_eq(_hak_slab_of(y), s);
    ck_assert_uint_eq(s->cls, b);
    ck_assert_uint_eq(t->nspare, 0);
    give(t, y);
    give(t, x[2]);
    give(t, x[3]);
    free(x);
    return NULL;
}

/* The first spare starts the purger, whose pthread_create allocates: a
 * slab it needs would be that spare. Started here, it needs none then.
 * The purger reads the decay, so it is set before and not restored (each
 * case runs in a process of its own, or sets the decay it needs). */
static void purger_start(uint32_t decay_ms)
{
    _hak_opt.decay_ms = decay_ms;
    _hak_decay_kick();
}

/* A decay no case outlasts: the purger leaves the spares alone. */
#define LONG_DECAY_MS 600000

START_TEST(emptied_slab_serves_next_class)
{
    purger_start(LONG_DECAY_MS);
    run(spare_reuse, NULL);
}
END_TEST

/* A thread keeps at most HAK_SPARE_MAX spares (none with no decay, which
 * gives a slab's pages back as soon as it is free, and none in a plan
 * without cache tiers, which has no heap lock to keep them under); the
 * rest go to the pool. */
static void *spare_fill(void *arg)
{
    struct hak_thread *t = me();
    size_t n = HAK_SPARE_MAX + 4, want = *(size_t *)arg;
    struct hak_slab *s;
    void **x = empty_slabs(t, hak_size_class(24576), n, &s);
    ck_assert_uint_eq(t->nspare, want);
    size_t listed = 0;
    for (struct hak_slab *p = t->spare; p != NULL; p = p->next)
        listed++;
    ck_assert_uint_eq(listed, want);
    ck_assert_int_eq(hak_heap_check(), 0);
    give(t, x[2 * n - 2]);
    give(t, x[2 * n - 1]);
    free(x);
    return NULL;
}

START_TEST(spares_are_bounded)
{
    purger_start(_i == 0 ? 0 : LONG_DECAY_MS);
    size_t want = _i == 0 || !HAK_HEAP_LOCKED ? 0 : HAK_SPARE_MAX;
    run(spare_fill, &want);
}
END_TEST

/* A thread about to map a new SuperSlab takes another thread's spares
 * first: spares do not raise the peak while the pool is dry. */
struct steal_case {
    struct hak_thread *keeper;
    pthread_barrier_t made, taken;
};

static void *steal_keeper(void *arg)
{
    struct steal_case *sc = arg;
    sc->keeper = me();
    struct hak_slab *s;
    void **x = empty_slabs(sc->keeper, hak_size_class(24576), 5, &s);
    ck_assert_uint_eq(sc->keeper->nspare, 4);
    pthread_barrier_wait(&sc->made);
    pthread_barrier_wait(&sc->taken);
    give(sc->keeper, x[8]);
    give(sc->keeper, x[9]);
    free(x);
    return NULL;
}

static void *steal_taker(void *arg)
{
    struct steal_case *sc = arg;
    struct hak_thread *t = me();
    unsigned cls = hak_size_class(20480);       /* 3 blocks per slab */
    size_t cap = 3 * 64 * HAK_SLABS_PER_SS, n = 0, mapped0, mapped, spares = 0;
    uint64_t stateless;
    void **b = calloc(cap, sizeof *b);
    _hak_ss_stats(&mapped0, &(size_t){0}, &stateless);
    /* Until every spare is taken or a SuperSlab is mapped: the pool, a
     * few SuperSlabs at most here, runs dry on the way. */
    for (mapped = mapped0; n < cap; n++) {
        spares = HAK_RELAXED_GET(sc->keeper->nspare);
        if (spares == 0)
            break;
        b[n] = take(t, cls);
        _hak_ss_stats(&mapped, &(size_t){0}, &stateless);
        if (mapped != mapped0)
            break;
    }
    ck_assert_uint_eq(mapped, mapped0);
    ck_assert_uint_eq(spares, 0);
    for (size_t i = 0; i < n; i++)
        give(t, b[i]);
    free(b);
    return NULL;
}

START_TEST(spares_taken_before_mapping)
{
    purger_start(LONG_DECAY_MS);
    struct steal_case sc;
    pthread_barrier_init(&sc.made, NULL, 2);
    pthread_barrier_init(&sc.taken, NULL, 2);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, steal_keeper, &sc), 0);
    pthread_barrier_wait(&sc.made);
    run(steal_taker, &sc);
    pthread_barrier_wait(&sc.taken);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}
END_TEST

/* A spare of a live thread that allocates no more goes back to the pool
 * after the decay, and its pages to the OS, with no call from it. */
struct spare_case {
    struct hak_thread *t;
    struct hak_slab *s;
    pthread_barrier_t made, checked;
};

static void *spare_keeper(void *arg)
{
    struct spare_case *sc = arg;
    sc->t = me();
    void **x = empty_slabs(sc->t, hak_size_class(24576), 2, &sc->s);
    pthread_barrier_wait(&sc->made);
    pthread_barrier_wait(&sc->checked);
    /* The purger moved it under the heap lock (check allocates as it
     * asserts: not under the lock). */
    _hak_heap_lock(sc->t);
    struct hak_slab *spare = sc->t->spare;
    int list = sc->s->list;
    _hak_heap_unlock(sc->t);
    ck_assert_ptr_null(spare);
    ck_assert_int_eq(list, HAK_SLAB_NONE);
    give(sc->t, x[2]);
    give(sc->t, x[3]);
    free(x);
    return NULL;
}

START_TEST(spare_given_back_after_decay)
{
    purger_start(100);
    struct spare_case sc = {0};
    pthread_barrier_init(&sc.made, NULL, 2);
    pthread_barrier_init(&sc.checked, NULL, 2);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, spare_keeper, &sc), 0);
    pthread_barrier_wait(&sc.made);
    /* 50 decays: the purger wakes every half decay. */
    size_t spares = 1, pages = 1;
    for (int i = 0; i < 500 && (spares != 0 || pages != 0); i++) {
        usleep(10000);
        spares = HAK_RELAXED_GET(sc.t->nspare);
        pages = slab_resident_pages(sc.s);
    }
    ck_assert_uint_eq(spares, 0);
    ck_assert_uint_eq(pages, 0);
    pthread_barrier_wait(&sc.checked);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("superslab");
    TCase *tc = tcase_create("ownership");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, carve_and_return_conserves_counts, 0, 5);
    tcase_add_test(tc, remote_free_reaches_owner_after_drain);
    tcase_add_test(tc, interleaved_remote_frees_pushed_per_slab);
    tcase_add_test(tc, run_left_behind_by_a_burst_goes_home);
    tcase_add_test(tc, remote_free_goes_home);
    tcase_add_test(tc, exited_thread_slab_is_adopted);
    tcase_add_test(tc, abandoned_slab_released_by_last_free);
    tcase_add_test(tc, full_slab_released_by_last_remote_free);
    tcase_add_test(tc, half_freed_full_slab_adopted);
    tcase_add_test(tc, remote_free_to_full_slab_found_before_growing);
    tcase_add_test(tc, empty_superslab_is_released);
    tcase_add_loop_test(tc, watched_superslab_stays_mapped, 0, 2);
    tcase_add_test(tc, freed_slabs_reused_before_cold_ones);
    tcase_add_test(tc, given_back_blocks_reused_before_fresh_ones);
    tcase_add_loop_test(tc, chain_refill_carves_a_page_then_more, 0, 2);
    tcase_add_loop_test(tc, spares_are_bounded, 0, 2);
    if (HAK_HEAP_LOCKED) {
        tcase_add_test(tc, emptied_slab_serves_next_class);
        tcase_add_test(tc, spares_taken_before_mapping);
        tcase_add_test(tc, spare_given_back_after_decay);
    }
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
