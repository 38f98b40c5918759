/* hakmem benchmarks: single-threaded allocator microbenchmarks.
 *
 * Each body touches the memory it gets, as a program would, and passes the
 * pointer to gb_do_not_optimize(): a compiler that knows malloc may
 * otherwise delete a malloc/free pair outright.
 */
#include "micro.h"

#include <stdlib.h>
#include <string.h>

/* Calls per gb_keep_running_batch(), to keep the shim's out-of-line call
 * out of the per-operation cost. */
#define INNER 256

static const char *const size_name[] = {"size"};

/* malloc(n) then free, the same size over and over: the cost of the fast
 * path of one size class. */
static void bm_malloc_free(gb_state *st)
{
    size_t n = (size_t)gb_range_arg(st, 0);
    while (gb_keep_running_batch(st, INNER)) {
        for (int i = 0; i < INNER; i++) {
            char *p = malloc(n);
            if (p == NULL) {
                gb_skip_with_error(st, "malloc failed");
                return;
            }
            p[0] = 1;
            gb_do_not_optimize(p);
            free(p);
        }
    }
    gb_set_items_processed(st, gb_iterations(st));
}

/* COUNT blocks of one size, then all freed in allocation order: the
 * caches overflow on the way up and run dry on the way down. */
static void bm_batch(gb_state *st)
{
    size_t count = (size_t)gb_range_arg(st, 0);
    size_t n = (size_t)gb_range_arg(st, 1);
    char **v = malloc(count * sizeof *v);
    if (v == NULL) {
        gb_skip_with_error(st, "malloc failed");
        return;
    }
    while (gb_keep_running(st)) {
        for (size_t i = 0; i < count; i++) {
            v[i] = malloc(n);
            if (v[i] == NULL) {
                gb_skip_with_error(st, "malloc failed");
                while (i > 0)
                    free(v[--i]);
                free(v);
                return;
            }
            v[i][0] = 1;
        }
        gb_clobber_memory();
        for (size_t i = 0; i < count; i++)
            free(v[i]);
    }
    free(v);
    gb_set_items_processed(st, gb_iterations(st) * (int64_t)count);
}

/* A buffer grown by a quarter at a time from 16 bytes to MAX, the way a
 * string builder or a vector grows. "moved" is the share of reallocs that
 * copied the block rather than growing it in place. */
static void bm_realloc_grow(gb_state *st)
{
    size_t max = (size_t)gb_range_arg(st, 0);
    int64_t steps = 0, moved = 0;
    while (gb_keep_running(st)) {
        char *p = NULL;
        for (size_t n = 16; n <= max; n += n / 4) {
            char *q = realloc(p, n);
            if (q == NULL) {
                gb_skip_with_error(st, "realloc failed");
                free(p);
                return;
            }
            moved += q != p && p != NULL;
            steps++;
            q[n - 1] = 1;
            p = q;
        }
        gb_do_not_optimize(p);
        free(p);
    }
    gb_set_items_processed(st, steps);
    gb_counter(st, "moved", steps ? (double)moved / (double)steps : 0.0, GB_COUNTER_DEFAULT);
}

/* calloc(1, n) and free: small sizes come from the caches and must be
 * zeroed; large ones may come fresh from the OS, already zero. */
static void bm_calloc(gb_state *st)
{
    size_t n = (size_t)gb_range_arg(st, 0);
    while (gb_keep_running_batch(st, INNER)) {
        for (int i = 0; i < INNER; i++) {
            char *p = calloc(1, n);
            if (p == NULL) {
                gb_skip_with_error(st, "calloc failed");
                return;
            }
            gb_do_not_optimize(p);
            free(p);
        }
    }
    gb_set_items_processed(st, gb_iterations(st));
    gb_set_bytes_processed(st, gb_iterations(st) * (int64_t)n);
}

/* aligned_alloc(ALIGN, SIZE) and free: alignments above the natural one
 * of a size class take the allocator's slow path in most designs. */
static void bm_aligned_alloc(gb_state *st)
{
    size_t align = (size_t)gb_range_arg(st, 0);
    size_t n = (size_t)gb_range_arg(st, 1);
    while (gb_keep_running_batch(st, INNER)) {
        for (int i = 0; i < INNER; i++) {
            char *p = aligned_alloc(align, n);
            if (p == NULL) {
                gb_skip_with_error(st, "aligned_alloc failed");
                return;
            }
            p[0] = 1;
            gb_do_not_optimize(p);
            free(p);
        }
    }
    gb_set_items_processed(st, gb_iterations(st));
}

void micro_register_alloc(void)
{
    /* Every power of two up to 64 KiB: each small class boundary and the
     * first large sizes. */
    gb_arg_names(gb_range(gb_range_multiplier(gb_register("malloc_free", bm_malloc_free), 2),
                          8, 64 << 10),
                 1, size_name);

    static const char *const batch_names[] = {"count", "size"};
    gb_bench *b = gb_arg_names(gb_register("batch", bm_batch), 2, batch_names);
    static const int64_t batch_sizes[] = {16, 64, 256, 1024, 4096};
    for (size_t i = 0; i < sizeof batch_sizes / sizeof batch_sizes[0]; i++)
        gb_args(b, 2, (const int64_t[]){1000, batch_sizes[i]});

    static const char *const max_name[] = {"max"};
    gb_arg_names(gb_range(gb_register("realloc_grow", bm_realloc_grow), 1 << 10, 1 << 20), 1,
                 max_name);

    gb_arg_names(gb_range(gb_register("calloc", bm_calloc), 16, 64 << 10), 1, size_name);

    static const char *const aligned_names[] = {"align", "size"};
    b = gb_arg_names(gb_register("aligned_alloc", bm_aligned_alloc), 2, aligned_names);
    static const int64_t aligned[][2] = {{16, 64}, {64, 64}, {256, 64}, {4096, 64}, {4096, 4096}};
    for (size_t i = 0; i < sizeof aligned / sizeof aligned[0]; i++)
        gb_args(b, 2, aligned[i]);
}
