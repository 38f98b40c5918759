/* hakmem benchmarks: random mixed small allocations on one thread.
 *
 *   random_mixed CYCLES WS SEED [MAX]
 *
 * WS slots, all empty at first. Each of CYCLES steps picks a random slot:
 * a full slot is checked and freed, an empty one gets a block of 16..MAX
 * bytes (1040 unless given). The live set hovers around WS/2 blocks spread
 * over every size class up to MAX, so the caches see misses in all classes
 * at once rather than the one-size ping-pong of a malloc/free loop.
 *
 * One op is one step (a malloc or a free). Prints ops/s.
 */
#include "bench.h"

#define USAGE "usage: random_mixed CYCLES WS SEED [MAX]"

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "%s\n", USAGE);
        return BENCH_EXIT_USAGE;
    }
    uint64_t cycles = bench_arg_u64(argv[1], "CYCLES", 1, UINT64_MAX, USAGE);
    size_t ws = bench_arg_u64(argv[2], "WS", 1, (uint64_t)1 << 28, USAGE);
    uint64_t rng = bench_arg_u64(argv[3], "SEED", 0, UINT64_MAX, USAGE);
    size_t max = argc == 5 ? bench_arg_u64(argv[4], "MAX", 16, (uint64_t)1 << 30, USAGE) : 1040;

    struct bench_block *slots = calloc(ws, sizeof *slots);
    if (slots == NULL)
        bench_oom(ws * sizeof *slots);

    double t0 = bench_now();
    for (uint64_t i = 0; i < cycles; i++) {
        uint64_t r = bench_rand(&rng);
        struct bench_block *b = &slots[r % ws];
        if (b->p != NULL)
            bench_release(b);
        else
            bench_alloc(b, 16 + (size_t)((r >> 32) % (max - 15)), r);
    }
    double elapsed = bench_now() - t0;

    for (size_t i = 0; i < ws; i++)
        if (slots[i].p != NULL)
            bench_release(&slots[i]);
    free(slots);

    printf("random_mixed: %" PRIu64 " cycles, %zu slots, 16..%zu bytes, %.2f s\n", cycles, ws, max,
           elapsed);
    bench_report(cycles, elapsed);
    return 0;
}
