/* hakmem benchmarks: Google benchmark (libbenchmark, a C++ library) from C.
 *
 * gbench.cc wraps the few parts of benchmark::State and
 * benchmark::internal::Benchmark that allocator microbenchmarks need, so the
 * benchmarks themselves are plain C and compile with the project's flags:
 *
 *     static void bm_pair(gb_state *st)
 *     {
 *         size_t n = (size_t)gb_range_arg(st, 0);
 *         while (gb_keep_running_batch(st, 1000))
 *             for (int i = 0; i < 1000; i++) {
 *                 void *p = malloc(n);
 *                 gb_do_not_optimize(p);
 *                 free(p);
 *             }
 *         gb_set_items_processed(st, gb_iterations(st));
 *     }
 *     ...
 *     gb_range(gb_register("malloc_free", bm_pair), 8, 4096);
 *     return gb_main(argc, argv);
 *
 * Every call into the shim is an out-of-line call, so a benchmark whose
 * body takes nanoseconds should loop inside gb_keep_running_batch()
 * rather than call gb_keep_running() per operation.
 */
#ifndef HAK_GBENCH_H
#define HAK_GBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A running benchmark (benchmark::State); valid during its function. */
typedef struct gb_state gb_state;
/* A registered family of benchmarks (benchmark::internal::Benchmark). */
typedef struct gb_bench gb_bench;
typedef void gb_fn(gb_state *st);

/* Registration, before gb_main(). Each configuration call returns b so
 * calls can be nested; they map one to one onto Benchmark's methods. */
gb_bench *gb_register(const char *name, gb_fn *fn);
gb_bench *gb_args(gb_bench *b, size_t n, const int64_t *xs);
/* lo, hi and the powers of the range multiplier (default 8) between. */
gb_bench *gb_range(gb_bench *b, int64_t lo, int64_t hi);
gb_bench *gb_range_multiplier(gb_bench *b, int mult);
/* Names the n arguments in the reported benchmark names ("size:64"). */
gb_bench *gb_arg_names(gb_bench *b, size_t n, const char *const *names);
/* Runs the function on n threads at once, each with its own state. */
gb_bench *gb_threads(gb_bench *b, int n);
gb_bench *gb_use_real_time(gb_bench *b);

/* The benchmark loop: true while another iteration (or batch of n) is
 * wanted. The timer runs from the first call to the last. */
bool gb_keep_running(gb_state *st);
bool gb_keep_running_batch(gb_state *st, int64_t n);

int64_t gb_range_arg(const gb_state *st, size_t i);
int64_t gb_iterations(const gb_state *st);
int gb_thread_index(const gb_state *st);
/* Reports the run as failed (gb_main then returns 1); the loop ends after
 * the current iteration, and the function should return. */
void gb_skip_with_error(gb_state *st, const char *msg);
void gb_set_items_processed(gb_state *st, int64_t items);
void gb_set_bytes_processed(gb_state *st, int64_t bytes);

/* Counter flags, the values of benchmark::Counter::Flags. */
enum {
    GB_COUNTER_DEFAULT = 0,
    GB_COUNTER_RATE = 1,         /* divided by the run time */
    GB_COUNTER_AVG_THREADS = 2,  /* divided by the number of threads */
    GB_COUNTER_PER_ITERATION = 4, /* multiplied by the iterations */
    GB_COUNTER_AVG_ITERATIONS = 8 /* divided by the iterations */
};
void gb_counter(gb_state *st, const char *name, double value, unsigned flags);

/* Parses the --benchmark_* options, runs the selected benchmarks and
 * returns the exit status: 1 if an option was not understood or a
 * benchmark called gb_skip_with_error(), else 0. */
int gb_main(int argc, char **argv);

/* benchmark::DoNotOptimize: p is treated as used and whatever it points
 * to as read, so an allocation is not optimised away. */
static inline void gb_do_not_optimize(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* benchmark::ClobberMemory: every pending store is done before this. */
static inline void gb_clobber_memory(void)
{
    __asm__ volatile("" : : : "memory");
}

#ifdef __cplusplus
}
#endif

#endif /* HAK_GBENCH_H */
