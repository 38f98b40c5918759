/* hakmem benchmarks: the allocator microbenchmarks on Google benchmark.
 * Takes the --benchmark_* options (--benchmark_filter=REGEX,
 * --benchmark_min_time=SECONDS, --benchmark_format=json, ...). Run it
 * under LD_PRELOAD to measure another allocator. */
#include "micro.h"

int main(int argc, char **argv)
{
    micro_register_alloc();
    micro_register_xfree();
    return gb_main(argc, argv);
}
