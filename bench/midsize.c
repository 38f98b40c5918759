/* hakmem benchmarks: mid-sized blocks, above the small size classes.
 *
 *   midsize THREADS CYCLES WS MIN MAX SEED
 *
 * Each thread has WS slots, all empty at first. Each of its CYCLES steps
 * picks a slot at random: a full slot is checked and freed, an empty one
 * gets a block of MIN..MAX bytes. About WS/2 blocks live per thread, of
 * sizes that seldom repeat, so an allocator that maps, faults in and
 * unmaps pages per block (or serialises its threads on one cache) shows,
 * where one that reuses freed spans across sizes does not. Only the
 * blocks' edges are written (bench.h): the time is the allocator's and
 * the page faults it causes, not the program's use of the memory.
 *
 * One op is one step (a malloc or a free). Prints ops/s.
 */
#include "bench.h"

#include <pthread.h>

#define USAGE "usage: midsize THREADS CYCLES WS MIN MAX SEED"

static uint64_t g_cycles;
static size_t g_ws, g_min, g_max;

struct worker {
    pthread_t th;
    uint64_t rng;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    struct bench_block *slots = calloc(g_ws, sizeof *slots);
    if (slots == NULL)
        bench_oom(g_ws * sizeof *slots);
    for (uint64_t i = 0; i < g_cycles; i++) {
        uint64_t r = bench_rand(&w->rng);
        struct bench_block *b = &slots[r % g_ws];
        if (b->p != NULL)
            bench_release(b);
        else
            bench_alloc(b, bench_rand_size(&w->rng, g_min, g_max), r);
    }
    for (size_t i = 0; i < g_ws; i++)
        if (slots[i].p != NULL)
            bench_release(&slots[i]);
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "%s\n", USAGE);
        return BENCH_EXIT_USAGE;
    }
    size_t nthreads = bench_arg_u64(argv[1], "THREADS", 1, 1024, USAGE);
    g_cycles = bench_arg_u64(argv[2], "CYCLES", 1, UINT64_MAX, USAGE);
    g_ws = bench_arg_u64(argv[3], "WS", 1, (uint64_t)1 << 20, USAGE);
    g_min = bench_arg_u64(argv[4], "MIN", 16, (uint64_t)1 << 30, USAGE);
    g_max = bench_arg_u64(argv[5], "MAX", g_min, (uint64_t)1 << 30, USAGE);
    uint64_t seed = bench_arg_u64(argv[6], "SEED", 0, UINT64_MAX, USAGE);

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

    printf("midsize: %zu threads, %" PRIu64 " cycles, %zu slots, %zu..%zu bytes, %.2f s\n",
           nthreads, g_cycles, g_ws, g_min, g_max, elapsed);
    bench_report((uint64_t)nthreads * g_cycles, elapsed);
    return 0;
}
