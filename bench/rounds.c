/* hakmem benchmarks: a program that works in rounds, each on its own sizes
 * (the pattern of MicroQuill's sh6bench).
 *
 *   rounds THREADS ROUNDS BLOCKS SEED
 *
 * Each thread runs ROUNDS rounds. Round r allocates BLOCKS blocks of
 * random sizes in [base, base + 100), base = 1 + 100 * (r % 10), fills
 * them, then checks and frees every other one, then the rest from the
 * last down. So each round's sizes fall in a couple of classes that the
 * next nine rounds do not use: what a round leaves cached or pinned in
 * its classes is memory the next rounds cannot reuse, and shows in the
 * peak RSS.
 *
 * One op is one malloc or one free. Prints ops/s.
 */
#include "bench.h"

#include <pthread.h>

#define USAGE "usage: rounds THREADS ROUNDS BLOCKS SEED"

static uint64_t g_rounds;
static size_t g_blocks;

struct worker {
    pthread_t th;
    uint64_t rng;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    struct bench_block *b = malloc(g_blocks * sizeof *b);
    if (b == NULL)
        bench_oom(g_blocks * sizeof *b);
    for (uint64_t r = 0; r < g_rounds; r++) {
        size_t base = 1 + 100 * (size_t)(r % 10);
        for (size_t i = 0; i < g_blocks; i++) {
            uint64_t x = bench_rand(&w->rng);
            bench_alloc(&b[i], bench_rand_size(&w->rng, base, base + 99), x);
        }
        for (size_t i = 0; i < g_blocks; i += 2)
            bench_release(&b[i]);
        for (size_t i = g_blocks - 1 - (g_blocks % 2 == 0 ? 0 : 1); i < g_blocks; i -= 2)
            bench_release(&b[i]);
    }
    free(b);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "%s\n", USAGE);
        return BENCH_EXIT_USAGE;
    }
    size_t nthreads = bench_arg_u64(argv[1], "THREADS", 1, 1024, USAGE);
    g_rounds = bench_arg_u64(argv[2], "ROUNDS", 1, (uint64_t)1 << 40, USAGE);
    g_blocks = bench_arg_u64(argv[3], "BLOCKS", 1, (uint64_t)1 << 24, USAGE);
    uint64_t seed = bench_arg_u64(argv[4], "SEED", 0, UINT64_MAX, USAGE);

    struct worker *w = calloc(nthreads, sizeof *w);
    if (w == NULL)
        bench_oom(nthreads * sizeof *w);
    double t0 = bench_now();
    for (size_t t = 0; t < nthreads; t++) {
        w[t].rng = seed + t;
        bench_thread(&w[t].th, run, &w[t]);
    }
    for (size_t t = 0; t < nthreads; t++)
        pthread_join(w[t].th, NULL);
    double elapsed = bench_now() - t0;
    free(w);

    uint64_t ops = (uint64_t)nthreads * g_rounds * g_blocks * 2;
    printf("rounds: %zu threads, %" PRIu64 " rounds of %zu blocks, %.2f s\n", nthreads, g_rounds,
           g_blocks, elapsed);
    bench_report(ops, elapsed);
    return 0;
}
