/* hakmem tests: multi-threaded stress (malloc here is hakmem: hak_alloc.h).
 *
 * Phase 1: NWORKERS threads allocate random sizes and free them again,
 * half of the frees done by another thread, so blocks travel through
 * remote queues while their owners keep allocating.
 * Phase 2: short-lived threads leave live blocks behind when they exit;
 * later threads free them, so slabs are abandoned, receive remote frees
 * while ownerless, and are adopted.
 *
 * Every block carries a pattern derived from its address, size and a seed,
 * checked just before it is freed: a block handed out twice, a write by
 * the allocator into a live block, or a copy gone wrong shows up there.
 * At the end of each phase nothing is live, and the statistics must say so.
 * While phase 1 runs the main thread keeps reading the statistics, which
 * sum counters their owners are writing (under TSan: without a race).
 *
 * Usage: stress [scale]   scale (default: $HAK_STRESS_SCALE or
 * $HAK_TEST_SCALE, else 1) multiplies the work, e.g. 0.02 under valgrind
 * (make check-valgrind sets it). Exit status 0 = pass; on failure a
 * message on stderr. */
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hakmem.h"
#include "hak_alloc.h"

#define NWORKERS 8
#define SLOTS 512                       /* live blocks a worker holds at most */
#define INBOX_CAP 4096
#define PHASE1_OPS 400000               /* per worker, at scale 1 */

#define NSHORT 64
#define MAX_ALIVE 8
#define SHORT_BLOCKS 2000               /* per short-lived thread, at scale 1 */

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("stress: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    /* Other threads are still running: skip atexit and stdio teardown. */
    _Exit(EXIT_FAILURE);
}

/* ------------------------------------------------------------ blocks */

struct block {
    unsigned char *p;
    size_t size;
    uint64_t seed;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return mix(*state);
}

/* Mostly small, with a tail through every class and past HAK_SMALL_MAX
 * (32 KiB) into the large backend. */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 70)
        return 8 + r % (256 - 8 + 1);
    if (pick < 90)
        return 257 + r % (4096 - 257 + 1);
    if (pick < 97)
        return 4097 + r % (32768 - 4097 + 1);
    return 32769 + r % (65536 - 32769 + 1);
}

/* Word i of the block's pattern: every word differs, and so does every
 * block (the key depends on address, size and seed). */
static uint64_t pattern_word(uint64_t key, size_t i)
{
    return key ^ ((i + 1) * 0x9e3779b97f4a7c15ull);
}

static uint64_t pattern_key(const struct block *b)
{
    return mix((uint64_t)(uintptr_t)b->p ^ mix(b->size ^ b->seed));
}

static void pattern_fill(const struct block *b)
{
    uint64_t key = pattern_key(b);
    size_t words = b->size / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(key, i);
        memcpy(b->p + 8 * i, &w, 8);
    }
    uint64_t tail = pattern_word(key, words);
    memcpy(b->p + 8 * words, &tail, b->size % 8);
}

static void pattern_check(const struct block *b)
{
    uint64_t key = pattern_key(b);
    size_t words = b->size / 8;
    for (size_t i = 0; i <= words; i++) {
        uint64_t want = pattern_word(key, i), got = 0;
        size_t n = i < words ? 8 : b->size % 8;
        memcpy(&got, b->p + 8 * i, n);
        if (n < 8)
            want &= ((uint64_t)1 << (8 * n)) - 1;
        if (got != want)
            fail("block %p (%zu bytes, seed %#llx) corrupted at offset %zu: %#llx, expected %#llx",
                 (void *)b->p, b->size, (unsigned long long)b->seed, 8 * i,
                 (unsigned long long)got, (unsigned long long)want);
    }
}

static struct block block_new(uint64_t *rng)
{
    struct block b = {.size = random_size(rng), .seed = rng_next(rng)};
    b.p = malloc(b.size);
    if (b.p == NULL)
        fail("malloc(%zu) failed", b.size);
    if ((uintptr_t)b.p % 16 != 0)
        fail("malloc(%zu) = %p is not 16-byte aligned", b.size, (void *)b.p);
    if (malloc_usable_size(b.p) < b.size)
        fail("malloc(%zu) = %p: usable size %zu", b.size, (void *)b.p, malloc_usable_size(b.p));
    pattern_fill(&b);
    return b;
}

static void block_free(const struct block *b)
{
    pattern_check(b);
    free(b->p);
}

static void stats_get(struct hak_stats *st)
{
    if (hak_stats_get(st, sizeof *st) != 0)
        fail("hak_stats_get refused the current struct size");
}

/* ------------------------------------------------------------ threads */

/* glibc keeps the stacks of exited threads for reuse, each with a block
 * from malloc (its TLS vector): live blocks that are not the test's. So
 * every thread gets a stack small enough that glibc caches them all, and
 * warm_up() first runs as many threads at once as any phase will; from
 * then on glibc reuses those stacks and allocates nothing more. hakmem's
 * purger thread (and its TLS vector) starts at the first free that leaves
 * memory to give back: warm_up() frees a large block to start it first. */
#define STACK_SIZE ((size_t)256 << 10)
static pthread_attr_t thread_attr;
static pthread_barrier_t warm_barrier;

static void thread_start(pthread_t *tid, void *(*fn)(void *), void *arg)
{
    if (pthread_create(tid, &thread_attr, fn, arg) != 0)
        fail("pthread_create failed");
}

static void *warm_main(void *arg)
{
    pthread_barrier_wait(&warm_barrier);
    return arg;
}

/* Returns the blocks glibc now holds, which every phase must end with. */
static struct hak_stats warm_up(unsigned nthreads)
{
    pthread_t tids[nthreads];
    free(malloc((size_t)1 << 20));
    pthread_attr_init(&thread_attr);
    pthread_attr_setstacksize(&thread_attr, STACK_SIZE);
    pthread_barrier_init(&warm_barrier, NULL, nthreads);
    for (unsigned i = 0; i < nthreads; i++)
        thread_start(&tids[i], warm_main, NULL);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&warm_barrier);
    struct hak_stats base;
    stats_get(&base);
    return base;
}

static void check_nothing_live(const char *phase, const struct hak_stats *base,
                               struct hak_stats *st)
{
    stats_get(st);
    if (st->live_small_blocks != base->live_small_blocks ||
        st->live_large_blocks != base->live_large_blocks)
        fail("after %s: %zu small and %zu large blocks live, expected the %zu and %zu from "
             "before it",
             phase, st->live_small_blocks, st->live_large_blocks, base->live_small_blocks,
             base->live_large_blocks);
}

/* Valgrind replaces a malloc defined in the executable unless told not to,
 * and then every check here would pass without testing hakmem. */
static void check_malloc_is_hakmem(const struct hak_stats *base)
{
    void *p = malloc(1);
    if (p == NULL || hak_usable_size(p) == 0)
        fail("malloc(1) failed");
    struct hak_stats st;
    stats_get(&st);
    free(p);
    if (st.live_small_blocks != base->live_small_blocks + 1)
        fail("malloc is not hakmem's (under valgrind, pass "
             "--soname-synonyms=somalloc=nouserintercepts)");
}

static size_t scaled(double scale, size_t n)
{
    size_t r = (size_t)(scale * (double)n);
    return r > 0 ? r : 1;
}

/* ------------------------------------------------------------ phase 1 */

struct inbox {
    pthread_mutex_t lock;
    size_t n;
    struct block q[INBOX_CAP];
};

struct worker {
    pthread_t tid;
    unsigned index;
    size_t ops;
    uint64_t rng;
    struct block slots[SLOTS];
    struct inbox inbox;                 /* blocks other workers want freed here */
    struct block drained[INBOX_CAP];
};

static struct worker workers[NWORKERS];
static atomic_uint workers_running;
static FILE *devnull;                   /* unbuffered: allocates nothing */

/* False if the inbox is full; the caller then frees the block itself. */
static bool inbox_put(struct worker *to, const struct block *b)
{
    pthread_mutex_lock(&to->inbox.lock);
    bool ok = to->inbox.n < INBOX_CAP;
    if (ok)
        to->inbox.q[to->inbox.n++] = *b;
    pthread_mutex_unlock(&to->inbox.lock);
    return ok;
}

/* Frees outside the lock so senders never wait on the allocator. */
static void inbox_drain(struct worker *w)
{
    pthread_mutex_lock(&w->inbox.lock);
    size_t n = w->inbox.n;
    memcpy(w->drained, w->inbox.q, n * sizeof w->inbox.q[0]);
    w->inbox.n = 0;
    pthread_mutex_unlock(&w->inbox.lock);
    for (size_t i = 0; i < n; i++)
        block_free(&w->drained[i]);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (size_t op = 0; op < w->ops; op++) {
        if (op % 16 == 0)
            inbox_drain(w);
        uint64_t r = rng_next(&w->rng);
        struct block *b = &w->slots[r % SLOTS];
        if (b->p == NULL) {
            *b = block_new(&w->rng);
            continue;
        }
        /* Half the frees go to another worker. */
        if ((r >> 32) & 1) {
            unsigned other = (w->index + 1 + (unsigned)(r >> 33) % (NWORKERS - 1)) % NWORKERS;
            if (!inbox_put(&workers[other], b))
                block_free(b);
        } else {
            block_free(b);
        }
        b->p = NULL;
    }
    inbox_drain(w);
    atomic_fetch_sub(&workers_running, 1);
    return NULL;
}

static void watch_stats(void)
{
    struct hak_stats st;
    while (atomic_load(&workers_running) > 0) {
        stats_get(&st);
        hak_stats_print(devnull);
        nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
    }
}

static void phase1(double scale, const struct hak_stats *base, struct hak_stats *st)
{
    for (unsigned i = 0; i < NWORKERS; i++) {
        struct worker *w = &workers[i];
        w->index = i;
        w->ops = scaled(scale, PHASE1_OPS);
        w->rng = mix(0x5eed0000u + i);
        pthread_mutex_init(&w->inbox.lock, NULL);
    }
    atomic_store(&workers_running, NWORKERS);
    for (unsigned i = 0; i < NWORKERS; i++)
        thread_start(&workers[i].tid, worker_main, &workers[i]);
    watch_stats();
    for (unsigned i = 0; i < NWORKERS; i++)
        pthread_join(workers[i].tid, NULL);
    /* What the workers left: their slots (now in abandoned slabs) and
     * blocks handed over after their owner's last drain. */
    for (unsigned i = 0; i < NWORKERS; i++) {
        struct worker *w = &workers[i];
        for (size_t s = 0; s < SLOTS; s++)
            if (w->slots[s].p != NULL)
                block_free(&w->slots[s]);
        inbox_drain(w);
        pthread_mutex_destroy(&w->inbox.lock);
    }
    check_nothing_live("phase 1", base, st);
}

/* ------------------------------------------------------------ phase 2 */

/* Blocks left behind by exited threads, oldest first (a ring). */
struct legacy {
    pthread_mutex_t lock;
    size_t head, n, cap;
    struct block *q;
    unsigned *creator;
};

static struct legacy legacy = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct short_thread {
    pthread_t tid;
    unsigned index;
    size_t blocks;
};

/* Frees the oldest legacy blocks whose creator is certainly dead: thread
 * i is joined before thread i + MAX_ALIVE is started. */
static void free_legacy(unsigned self)
{
    for (;;) {
        pthread_mutex_lock(&legacy.lock);
        if (legacy.n == 0 || legacy.creator[legacy.head] + MAX_ALIVE > self) {
            pthread_mutex_unlock(&legacy.lock);
            return;
        }
        struct block b = legacy.q[legacy.head];
        legacy.head = (legacy.head + 1) % legacy.cap;
        legacy.n--;
        pthread_mutex_unlock(&legacy.lock);
        block_free(&b);
    }
}

static void *short_main(void *arg)
{
    struct short_thread *t = arg;
    uint64_t rng = mix(0xfeed0000u + t->index);
    free_legacy(t->index);
    for (size_t i = 0; i < t->blocks; i++) {
        struct block b = block_new(&rng);
        /* Half stay live past this thread's exit. */
        if (rng_next(&rng) & 1) {
            block_free(&b);
            continue;
        }
        pthread_mutex_lock(&legacy.lock);
        bool kept = legacy.n < legacy.cap;
        if (kept) {
            size_t at = (legacy.head + legacy.n++) % legacy.cap;
            legacy.q[at] = b;
            legacy.creator[at] = t->index;
        }
        pthread_mutex_unlock(&legacy.lock);
        if (!kept)
            block_free(&b);
    }
    return NULL;
}

static void phase2(double scale, const struct hak_stats *base, struct hak_stats *st)
{
    static struct short_thread threads[NSHORT];
    size_t blocks = scaled(scale, SHORT_BLOCKS);
    /* Room for what MAX_ALIVE running and MAX_ALIVE dead-but-unfreed
     * threads may leave. */
    legacy.cap = 2 * MAX_ALIVE * blocks;
    legacy.q = malloc(legacy.cap * sizeof legacy.q[0]);
    legacy.creator = malloc(legacy.cap * sizeof legacy.creator[0]);
    if (legacy.q == NULL || legacy.creator == NULL)
        fail("out of memory for the legacy queue");
    for (unsigned i = 0; i < NSHORT; i++) {
        if (i >= MAX_ALIVE)
            pthread_join(threads[i - MAX_ALIVE].tid, NULL);
        threads[i] = (struct short_thread){.index = i, .blocks = blocks};
        thread_start(&threads[i].tid, short_main, &threads[i]);
    }
    for (unsigned i = NSHORT - MAX_ALIVE; i < NSHORT; i++)
        pthread_join(threads[i].tid, NULL);
    free_legacy(NSHORT - 1 + MAX_ALIVE);    /* all are dead now */
    free(legacy.q);
    free(legacy.creator);
    check_nothing_live("phase 2", base, st);
}

int main(int argc, char **argv)
{
    double scale = 1.0;
    const char *arg = argc > 1 ? argv[1] : getenv("HAK_STRESS_SCALE");
    if (arg == NULL)
        arg = getenv("HAK_TEST_SCALE");
    if (arg != NULL) {
        char *end;
        scale = strtod(arg, &end);
        if (*end != '\0' || !(scale > 0))
            fail("usage: %s [scale > 0] (or HAK_TEST_SCALE)", argv[0]);
    }
    /* stdout's buffer would otherwise be a live block at the phase 2 check. */
    static char outbuf[BUFSIZ];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    if ((devnull = fopen("/dev/null", "w")) == NULL)
        fail("cannot open /dev/null");
    setvbuf(devnull, NULL, _IONBF, 0);
    _Static_assert(NWORKERS >= MAX_ALIVE, "warm_up() runs the most threads alive at once");
    struct hak_stats base = warm_up(NWORKERS), st1, st2;
    check_malloc_is_hakmem(&base);
    printf("before: %zu small blocks held by the C library\n", base.live_small_blocks);

    phase1(scale, &base, &st1);
    printf("phase 1: %d threads x %zu operations\n", NWORKERS, scaled(scale, PHASE1_OPS));
    hak_stats_print(stdout);

    phase2(scale, &base, &st2);
    printf("phase 2: %d threads, %d at a time, %zu blocks each\n", NSHORT, MAX_ALIVE,
           scaled(scale, SHORT_BLOCKS));
    hak_stats_print(stdout);
    if (st2.adoptions == st1.adoptions && st2.remote_frees == st1.remote_frees)
        fail("phase 2 neither adopted a slab nor freed a block remotely");
    return EXIT_SUCCESS;
}
