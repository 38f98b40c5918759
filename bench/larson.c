/* hakmem benchmarks: Larson's server benchmark (Larson & Krishnan, ISMM
 * 1998, in the form Hoard and mimalloc-bench run it).
 *
 *   larson SECONDS MIN MAX CHUNKS ROUNDS SEED THREADS
 *
 * The main thread allocates CHUNKS blocks of random sizes in [MIN, MAX]
 * for each of THREADS slots. Each slot then runs a chain of threads: a
 * thread replaces random blocks of its slot (check, free, malloc, fill)
 * CHUNKS * ROUNDS times, then starts a new thread on the same blocks and
 * exits. So most frees are of blocks another, often dead, thread
 * allocated: the pattern of a server whose connection threads come and go.
 * After SECONDS (a fraction is allowed) the chains stop; the main thread
 * checks and frees every block left.
 *
 * One op is one replacement (a free and a malloc). Prints ops/s.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define USAGE "usage: larson SECONDS MIN MAX CHUNKS ROUNDS SEED THREADS"

/* One chain of threads; the thread running it owns everything here. */
struct slot {
    struct bench_block *blocks;
    uint64_t rng;
    uint64_t ops;
    /* The thread that ran the chain before, joined by the next one so
     * every exited thread is reaped, and its exit path timed. */
    pthread_t prev;
    bool has_prev;
    atomic_bool done;
} __attribute__((aligned(64)));

static size_t g_min, g_max, g_chunks;
static uint64_t g_rounds;
static atomic_bool g_stop;

static void *run(void *arg);

static void start(struct slot *s)
{
    /* Joined by the next thread of the chain (or main), not here. */
    pthread_t t;
    bench_thread(&t, run, s);
}

static void *run(void *arg)
{
    struct slot *s = arg;
    if (s->has_prev)
        pthread_join(s->prev, NULL);

    uint64_t n = g_chunks * g_rounds, i;
    for (i = 0; i < n; i++) {
        if (atomic_load_explicit(&g_stop, memory_order_relaxed))
            break;
        uint64_t r = bench_rand(&s->rng);
        struct bench_block *b = &s->blocks[r % g_chunks];
        bench_release(b);
        bench_alloc(b, bench_rand_size(&s->rng, g_min, g_max), r);
    }
    s->ops += i;
    s->prev = pthread_self();
    s->has_prev = true;
    if (i < n)
        atomic_store_explicit(&s->done, true, memory_order_release);
    else
        start(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "%s\n", USAGE);
        return BENCH_EXIT_USAGE;
    }
    double seconds = bench_arg_seconds(argv[1], "SECONDS", USAGE);
    g_min = bench_arg_u64(argv[2], "MIN", 1, (uint64_t)1 << 30, USAGE);
    g_max = bench_arg_u64(argv[3], "MAX", g_min, (uint64_t)1 << 30, USAGE);
    g_chunks = bench_arg_u64(argv[4], "CHUNKS", 1, (uint64_t)1 << 24, USAGE);
    g_rounds = bench_arg_u64(argv[5], "ROUNDS", 1, (uint64_t)1 << 30, USAGE);
    uint64_t seed = bench_arg_u64(argv[6], "SEED", 0, UINT64_MAX, USAGE);
    size_t nthreads = bench_arg_u64(argv[7], "THREADS", 1, 1024, USAGE);

    struct slot *slots = aligned_alloc(64, nthreads * sizeof *slots);
    if (slots == NULL)
        bench_oom(nthreads * sizeof *slots);
    for (size_t t = 0; t < nthreads; t++) {
        struct slot *s = &slots[t];
        s->rng = seed + t;
        s->ops = 0;
        s->has_prev = false;
        atomic_init(&s->done, false);
        s->blocks = malloc(g_chunks * sizeof *s->blocks);
        if (s->blocks == NULL)
            bench_oom(g_chunks * sizeof *s->blocks);
        for (size_t c = 0; c < g_chunks; c++) {
            uint64_t r = bench_rand(&s->rng);
            bench_alloc(&s->blocks[c], bench_rand_size(&s->rng, g_min, g_max), r);
        }
    }

    double t0 = bench_now();
    for (size_t t = 0; t < nthreads; t++)
        start(&slots[t]);
    struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
        ;
    atomic_store_explicit(&g_stop, true, memory_order_relaxed);
    double elapsed = bench_now() - t0;

    uint64_t ops = 0;
    const struct timespec poll = {0, 1000000};
    for (size_t t = 0; t < nthreads; t++) {
        struct slot *s = &slots[t];
        while (!atomic_load_explicit(&s->done, memory_order_acquire))
            nanosleep(&poll, NULL);
        pthread_join(s->prev, NULL);
        ops += s->ops;
        for (size_t c = 0; c < g_chunks; c++)
            bench_release(&s->blocks[c]);
        free(s->blocks);
    }
    free(slots);

    printf("larson: %zu threads, %zu..%zu bytes, %zu chunks, %" PRIu64 " rounds, %.2f s\n",
           nthreads, g_min, g_max, g_chunks, g_rounds, elapsed);
    bench_report(ops, elapsed);
    return 0;
}
