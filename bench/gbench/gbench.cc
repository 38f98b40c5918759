// hakmem benchmarks: the C API of gbench.h over Google benchmark.
//
// gb_state and gb_bench are never defined: their pointers are the C++
// objects themselves, cast at this boundary only.
#include "gbench.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <string>
#include <vector>

namespace {

benchmark::State &state(gb_state *st) { return *reinterpret_cast<benchmark::State *>(st); }

const benchmark::State &state(const gb_state *st)
{
    return *reinterpret_cast<const benchmark::State *>(st);
}

gb_bench *handle(benchmark::internal::Benchmark *b) { return reinterpret_cast<gb_bench *>(b); }

benchmark::internal::Benchmark *family(gb_bench *b)
{
    return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

constexpr bool same(int c_flag, benchmark::Counter::Flags flag) { return c_flag == static_cast<int>(flag); }
static_assert(same(GB_COUNTER_RATE, benchmark::Counter::kIsRate), "counter flags");
static_assert(same(GB_COUNTER_AVG_THREADS, benchmark::Counter::kAvgThreads), "counter flags");
static_assert(same(GB_COUNTER_PER_ITERATION, benchmark::Counter::kIsIterationInvariant),
              "counter flags");
static_assert(same(GB_COUNTER_AVG_ITERATIONS, benchmark::Counter::kAvgIterations),
              "counter flags");

// Google benchmark reports a skipped run but still exits 0; a smoke run
// of the benchmarks must fail instead.
std::atomic<bool> any_error{false};

} // namespace

extern "C" {

gb_bench *gb_register(const char *name, gb_fn *fn)
{
    return handle(benchmark::RegisterBenchmark(
        name, [fn](benchmark::State &st) { fn(reinterpret_cast<gb_state *>(&st)); }));
}

gb_bench *gb_args(gb_bench *b, size_t n, const int64_t *xs)
{
    return handle(family(b)->Args(std::vector<int64_t>(xs, xs + n)));
}

gb_bench *gb_range(gb_bench *b, int64_t lo, int64_t hi) { return handle(family(b)->Range(lo, hi)); }

gb_bench *gb_range_multiplier(gb_bench *b, int mult)
{
    return handle(family(b)->RangeMultiplier(mult));
}

gb_bench *gb_arg_names(gb_bench *b, size_t n, const char *const *names)
{
    return handle(family(b)->ArgNames(std::vector<std::string>(names, names + n)));
}

gb_bench *gb_threads(gb_bench *b, int n) { return handle(family(b)->Threads(n)); }

gb_bench *gb_use_real_time(gb_bench *b) { return handle(family(b)->UseRealTime()); }

bool gb_keep_running(gb_state *st) { return state(st).KeepRunning(); }

bool gb_keep_running_batch(gb_state *st, int64_t n) { return state(st).KeepRunningBatch(n); }

int64_t gb_range_arg(const gb_state *st, size_t i) { return state(st).range(i); }

int64_t gb_iterations(const gb_state *st) { return state(st).iterations(); }

int gb_thread_index(const gb_state *st) { return state(st).thread_index(); }

void gb_skip_with_error(gb_state *st, const char *msg)
{
    any_error.store(true, std::memory_order_relaxed);
    state(st).SkipWithError(msg);
}

void gb_set_items_processed(gb_state *st, int64_t items) { state(st).SetItemsProcessed(items); }

void gb_set_bytes_processed(gb_state *st, int64_t bytes) { state(st).SetBytesProcessed(bytes); }

void gb_counter(gb_state *st, const char *name, double value, unsigned flags)
{
    state(st).counters[name] =
        benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(flags));
}

int gb_main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return any_error.load(std::memory_order_relaxed) ? 1 : 0;
}

} // extern "C"
