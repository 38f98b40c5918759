/* hakmem benchmarks: the first lines of many live blocks, in turn.
 *
 *   firstline BLOCKS SIZE ROUNDS
 *
 * Allocates BLOCKS blocks of SIZE bytes, then in each of ROUNDS rounds
 * reads and writes back the first word of every block, in allocation
 * order. Nothing is allocated while it runs: what it measures is where the
 * allocator put the blocks. Blocks that all start at the same offset from
 * a large power of two (a span per block, each on its own aligned region)
 * share one cache set and one TLB set, and past a few dozen of them each
 * touch misses; blocks spread over sets stay cached. A program that keeps
 * many buffers of tens of KiB and looks at their headers does the same.
 *
 * One op = one block touched. Prints ops/s.
 */
#include "bench.h"

#define USAGE "usage: firstline BLOCKS SIZE ROUNDS"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "%s\n", USAGE);
        return BENCH_EXIT_USAGE;
    }
    size_t n = bench_arg_u64(argv[1], "BLOCKS", 1, (uint64_t)1 << 20, USAGE);
    size_t size = bench_arg_u64(argv[2], "SIZE", 16, (uint64_t)1 << 30, USAGE);
    uint64_t rounds = bench_arg_u64(argv[3], "ROUNDS", 1, UINT64_MAX, USAGE);

    struct bench_block *b = calloc(n, sizeof *b);
    if (b == NULL)
        bench_oom(n * sizeof *b);
    uint64_t rng = 42;
    for (size_t i = 0; i < n; i++)
        bench_alloc(&b[i], size, bench_rand(&rng));

    double t0 = bench_now();
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            volatile uint64_t *w = b[i].p;
            uint64_t v = *w;
            sum += v;
            *w = v;
        }
    double elapsed = bench_now() - t0;

    for (size_t i = 0; i < n; i++)
        bench_release(&b[i]);
    free(b);
    printf("firstline: %zu blocks of %zu bytes, %" PRIu64 " rounds, %.2f s (sum %" PRIx64 ")\n",
           n, size, rounds, elapsed, sum);
    bench_report((uint64_t)n * rounds, elapsed);
    return 0;
}
