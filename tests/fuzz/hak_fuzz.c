/* hakmem fuzzer (libFuzzer): an input is a sequence of allocator
 * operations, applied to hakmem (through hak_*) and to a shadow model
 * that records every live block's size, alignment and fill pattern.
 *
 * Operations (one opcode byte, then its arguments; a short input simply
 * ends): malloc, calloc, posix_memalign and aligned_alloc (alignments 1
 * to 4 MiB, and invalid ones), realloc (to 0 too), free, free by a helper
 * thread (handed over through a queue; the helper checks the pattern
 * first), malloc by the helper (the block lives on in this thread, so its
 * free is a remote one), helper exit and restart (its slabs are then
 * abandoned and adopted), hak_trim, and a full check. Sizes cover every
 * small class, both sides of HAK_SMALL_MAX, and large blocks to 8 MiB.
 *
 * Failures (abort with a message): an allocation that fails (sizes are
 * capped so that none should), a block not aligned as asked (16 at
 * least), hak_usable_size below the size, two live blocks overlapping,
 * contents not what the model says (fill pattern, zeroes of calloc,
 * realloc's copy), an error contract broken (EINVAL for bad alignments),
 * and, after each input once everything is freed, live blocks left in
 * hakmem's statistics or a problem found by hak_heap_check().
 *
 * Build: ./configure CC=clang --disable-override --enable-fuzzer (with
 * -fsanitize=address,undefined in CFLAGS), then `make fuzz` runs it on
 * tests/fuzz/corpus for FUZZ_TIME seconds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#define SLOTS 64
#define SMALL_MAX 32768
#define MAX_SIZE ((size_t)8 << 20)
#define MAX_LIVE ((size_t)256 << 20)    /* the model frees instead beyond this */
/* Large blocks are written and checked at their head, middle and tail
 * only, so a large block costs a few pages of RSS, not its size. */
#define SPOT 4096

static void die(const char *what, const void *p, size_t a, size_t b)
{
    fprintf(stderr, "hak_fuzz: %s (block %p, %zu, %zu)\n", what, p, a, b);
    abort();
}

/* ------------------------------------------------------------ the model */

struct block {
    unsigned char *p;
    size_t size, align;
    uint32_t seed;
    bool zero;                  /* calloc'd and not written since */
};

static struct block live[SLOTS];
static size_t live_bytes;

/* Byte i of a block with seed s is pattern[(s + i) % PATTERN]: random
 * bytes, so no two blocks' contents line up, and a range is written with
 * memcpy and checked with memcmp (the model's byte loops were most of the
 * fuzzer's time). The table is longer than PATTERN by the longest range
 * (4 * SPOT), so a range never wraps. */
#define PATTERN 32768
static unsigned char pattern[PATTERN + 4 * SPOT];
static const unsigned char zeroes[4 * SPOT];

static void pattern_init(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < PATTERN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)x;
    }
    memcpy(pattern + PATTERN, pattern, sizeof pattern - PATTERN);
}

static const unsigned char *expected(const struct block *b, size_t from)
{
    return b->zero ? zeroes : pattern + (b->seed + from) % PATTERN;
}

/* Calls fn on each range of b that the model writes and checks, cut at
 * limit (a realloc keeps only that much of the old block). */
static void each_range_to(const struct block *b, size_t limit,
                          void (*fn)(const struct block *, size_t, size_t))
{
    size_t from[3] = {0, b->size / 2 - SPOT / 2, b->size - SPOT};
    size_t to[3] = {SPOT, b->size / 2 + SPOT / 2, b->size};
    if (b->size <= 4 * SPOT) {
        from[0] = 0;
        to[0] = b->size;
        to[1] = to[2] = 0;
    }
    for (int i = 0; i < 3; i++)
        if (from[i] < to[i] && from[i] < limit)
            fn(b, from[i], to[i] < limit ? to[i] : limit);
}

static void each_range(const struct block *b, void (*fn)(const struct block *, size_t, size_t))
{
    each_range_to(b, b->size, fn);
}

static void fill_range(const struct block *b, size_t from, size_t to)
{
    memcpy(b->p + from, expected(b, from), to - from);
}

static void check_range(const struct block *b, size_t from, size_t to)
{
    const unsigned char *want = expected(b, from);
    if (memcmp(b->p + from, want, to - from) == 0)
        return;
    size_t i = 0;
    while (b->p[from + i] == want[i])
        i++;
    die(b->zero ? "calloc block not zero" : "block contents changed", b->p, from + i, b->size);
}

static void check_block(const struct block *b)
{
    if (hak_usable_size(b->p) < b->size)
        die("usable size below the size", b->p, hak_usable_size(b->p), b->size);
    each_range(b, check_range);
}

/* A new block: aligned, usable, apart from every live block. */
static void admit(struct block *b, unsigned char *p, size_t size, size_t align, uint32_t seed,
                  bool zero)
{
    if (p == NULL)
        die("allocation failed", NULL, size, align);
    if ((uintptr_t)p % (align > 16 ? align : 16) != 0)
        die("misaligned", p, size, align);
    size_t usable = hak_usable_size(p);
    if (usable < size)
        die("usable size below the size", p, usable, size);
    for (unsigned i = 0; i < SLOTS; i++) {
        const struct block *o = &live[i];
        if (o->p == NULL || o == b)
            continue;
        size_t ou = hak_usable_size(o->p);
        if (p < o->p + (ou ? ou : 1) && o->p < p + (usable ? usable : 1))
            die("overlaps a live block", p, (size_t)(uintptr_t)o->p, ou);
    }
    *b = (struct block){.p = p, .size = size, .align = align, .seed = seed, .zero = zero};
    if (zero)
        each_range(b, check_range);
    b->zero = false;
    each_range(b, fill_range);
    live_bytes += size;
}

static void forget(struct block *b)
{
    live_bytes -= b->size;
    b->p = NULL;
}

/* ------------------------------------------------------------ the helper */

/* Requests to the helper thread: free a block (asynchronous: the caller
 * goes on), allocate one (synchronous), or exit. */
enum { REQ_FREE, REQ_ALLOC, REQ_EXIT };
struct request {
    int kind;
    struct block b;
};

#define QUEUE 16
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct request q[QUEUE];
    unsigned head, tail;        /* tail - head requests waiting */
    bool busy;                  /* the helper is working on one */
    unsigned char *result;      /* of REQ_ALLOC */
} hq = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static pthread_t helper;
static bool helper_running;

static void *helper_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&hq.lock);
        while (hq.head == hq.tail)
            pthread_cond_wait(&hq.cond, &hq.lock);
        struct request r = hq.q[hq.head++ % QUEUE];
        hq.busy = true;
        pthread_mutex_unlock(&hq.lock);
        unsigned char *result = NULL;
        if (r.kind == REQ_FREE) {
            check_block(&r.b);
            hak_free(r.b.p);
        } else if (r.kind == REQ_ALLOC) {
            result = hak_malloc(r.b.size);
        }
        pthread_mutex_lock(&hq.lock);
        hq.busy = false;
        if (r.kind == REQ_ALLOC)
            hq.result = result;
        pthread_cond_broadcast(&hq.cond);
        pthread_mutex_unlock(&hq.lock);
        if (r.kind == REQ_EXIT)
            return NULL;
    }
}

static void helper_post(int kind, const struct block *b)
{
    if (!helper_running) {
        if (pthread_create(&helper, NULL, helper_main, NULL) != 0)
            die("pthread_create failed", NULL, 0, 0);
        helper_running = true;
    }
    pthread_mutex_lock(&hq.lock);
    while (hq.tail - hq.head == QUEUE)
        pthread_cond_wait(&hq.cond, &hq.lock);
    hq.q[hq.tail++ % QUEUE] = (struct request){kind, b ? *b : (struct block){0}};
    pthread_cond_broadcast(&hq.cond);
    pthread_mutex_unlock(&hq.lock);
}

/* Waits until the helper has done everything asked of it. */
static void helper_sync(void)
{
    pthread_mutex_lock(&hq.lock);
    while (hq.head != hq.tail || hq.busy)
        pthread_cond_wait(&hq.cond, &hq.lock);
    pthread_mutex_unlock(&hq.lock);
}

static unsigned char *helper_alloc(size_t size)
{
    helper_post(REQ_ALLOC, &(struct block){.size = size});
    helper_sync();
    return hq.result;           /* written under the lock helper_sync took */
}

static void helper_exit(void)
{
    if (!helper_running)
        return;
    helper_post(REQ_EXIT, NULL);
    pthread_join(helper, NULL);
    helper_running = false;
}

/* ------------------------------------------------------------ decoding */

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned take(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static unsigned take16(struct input *in)
{
    unsigned lo = take(in);
    return lo | take(in) << 8;
}

static size_t take_size(struct input *in)
{
    unsigned k = take(in), v = take16(in);
    switch (k % 8) {
    case 0:
        return v % 17;                                  /* 0 .. 16 */
    case 1:
        return v % 1025;
    case 2:
        return v % (SMALL_MAX + 1);                     /* every class */
    case 3:
        return SMALL_MAX - 64 + v % 129;                /* around the large boundary */
    case 4:
        return SMALL_MAX + 1 + (size_t)v * 15;          /* large, to 1 MiB */
    case 5:
        return ((size_t)v << 7) % (MAX_SIZE + 1);       /* to 8 MiB */
    default: {
        /* A power of two (class sizes are made of them), give or take. */
        size_t s = (size_t)1 << (v & 0xff) % 24;
        size_t d = (k >> 3) % 17;
        return (v & 0x100 ? s + d : s > d ? s - d : s) % (MAX_SIZE + 1);
    }
    }
}

static struct block *slot(struct input *in) { return &live[take(in) % SLOTS]; }

/* ------------------------------------------------------------ operations */

static uint32_t seed_counter;

static void op_free(struct block *b)
{
    if (b->p == NULL)
        return;
    check_block(b);
    hak_free(b->p);
    forget(b);
}

/* Allocations land in a slot; whatever was there is freed first. Beyond
 * MAX_LIVE the model frees instead, to bound the fuzzer's footprint. */
static bool make_room(struct block *b, size_t size)
{
    op_free(b);
    return live_bytes + size <= MAX_LIVE;
}

static void op_malloc(struct input *in, bool zero)
{
    struct block *b = slot(in);
    size_t size = take_size(in);
    if (!make_room(b, size))
        return;
    unsigned char *p;
    if (zero) {
        /* Both factorings of the same size. */
        size_t n = size >= 2 && (take(in) & 1) ? 2 : 1;
        p = hak_calloc(n, size / n);
        size = size / n * n;
    } else {
        p = hak_malloc(size);
    }
    admit(b, p, size, 16, ++seed_counter, zero);
}

static void op_aligned(struct input *in)
{
    struct block *b = slot(in);
    unsigned how = take(in);
    size_t align = (size_t)1 << (how % 23);             /* 1 .. 4 MiB */
    size_t size = take_size(in);
    if (!make_room(b, size))
        return;
    if (how & 0x80) {
        /* 0 or not a power of two: both functions refuse, touching nothing. */
        size_t bad = how & 0x20 ? 0 : align * 3;
        void *p = &p;
        if (hak_posix_memalign(&p, bad, size) != EINVAL || p != &p)
            die("posix_memalign accepted a bad alignment", NULL, bad, size);
        errno = 0;
        if (hak_aligned_alloc(bad, size) != NULL || errno != EINVAL)
            die("aligned_alloc accepted a bad alignment", NULL, bad, size);
        return;
    }
    void *p = &p;
    if (how & 0x40) {
        int r = hak_posix_memalign(&p, align, size);
        if (align < sizeof(void *)) {
            /* POSIX: below sizeof(void *) is invalid too. */
            if (r != EINVAL || p != &p)
                die("posix_memalign accepted an alignment below sizeof(void *)", NULL, align,
                    size);
            return;
        }
        if (r != 0)
            p = NULL;
    } else {
        p = hak_aligned_alloc(align, size);
    }
    admit(b, p, size, align, ++seed_counter, false);
}

static void op_realloc(struct input *in)
{
    struct block *b = slot(in);
    size_t size = take_size(in);
    if (b->p == NULL) {
        if (live_bytes + size > MAX_LIVE)
            return;
        admit(b, hak_realloc(NULL, size), size, 16, ++seed_counter, false);
        return;
    }
    check_block(b);
    if (size == 0) {
        if (hak_realloc(b->p, 0) != NULL)
            die("realloc(p, 0) did not return NULL", b->p, 0, 0);
        forget(b);
        return;
    }
    if (live_bytes - b->size + size > MAX_LIVE)
        return;
    struct block old = *b;
    unsigned char *p = hak_realloc(b->p, size);
    if (p == NULL)
        die("realloc failed", b->p, b->size, size);
    /* The kept prefix must hold the old pattern (where the model wrote it). */
    struct block moved = old;
    moved.p = p;
    each_range_to(&moved, size, check_range);
    live_bytes -= old.size;
    b->p = NULL;                /* so the overlap check skips the old block */
    admit(b, p, size, 16, ++seed_counter, false);
}

static void op_remote_free(struct input *in)
{
    struct block *b = slot(in);
    if (b->p == NULL)
        return;
    check_block(b);
    helper_post(REQ_FREE, b);
    forget(b);
}

static void op_remote_malloc(struct input *in)
{
    struct block *b = slot(in);
    size_t size = take_size(in);
    if (!make_room(b, size))
        return;
    admit(b, helper_alloc(size), size, 16, ++seed_counter, false);
}

static void check_all(void)
{
    for (unsigned i = 0; i < SLOTS; i++)
        if (live[i].p != NULL)
            check_block(&live[i]);
}

static struct hak_stats baseline;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pattern_init();
    hak_stats_get(&baseline, sizeof baseline);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    while (in.n > 0) {
        switch (take(&in) % 11) {
        case 0:
        case 1:
            op_malloc(&in, false);
            break;
        case 2:
            op_malloc(&in, true);
            break;
        case 3:
            op_aligned(&in);
            break;
        case 4:
            op_realloc(&in);
            break;
        case 5:
            op_free(slot(&in));
            break;
        case 6:
            op_remote_free(&in);
            break;
        case 7:
            op_remote_malloc(&in);
            break;
        case 8:
            /* A thread's start and exit cost more than the rest (under
             * ASan most of all): one in four of these. */
            if (take(&in) % 4 == 0)
                helper_exit();
            break;
        case 9:
            hak_trim();
            break;
        default:
            check_all();
            break;
        }
    }
    /* Everything back: then hakmem must count no live block, and its
     * metadata must be sound. */
    for (unsigned i = 0; i < SLOTS; i++)
        op_free(&live[i]);
    helper_sync();
    struct hak_stats st;
    hak_stats_get(&st, sizeof st);
    if (st.live_small_blocks != baseline.live_small_blocks ||
        st.live_large_blocks != baseline.live_large_blocks)
        die("blocks live after everything was freed", NULL, st.live_small_blocks,
            st.live_large_blocks);
    int problems = hak_heap_check();
    if (problems != 0)
        die("hak_heap_check found problems", NULL, (size_t)problems, 0);
    return 0;
}
