/* hakmem: statistics: hak_stats_get and hak_stats_print.
 *
 * Counters live with the thread that moves the blocks (no shared cache
 * line is written on the hot paths) and are summed here on demand; an
 * exiting thread folds its counters into the process totals.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "hakmem.h"

/* Fields of the first published struct hak_stats, the least a caller may
 * pass. */
#define HAK_STATS_V1_SIZE (offsetof(struct hak_stats, adoptions) + sizeof(size_t))

static void stats_collect(struct hak_stats *st)
{
    struct hak_ss_counters ctr;
    uint64_t cached, stateless_in;
    size_t nthreads, ss, ss_bytes, large_live, large_cached, large_bytes;
    _hak_thread_sum(&ctr, &cached, &nthreads);
    cached += _hak_stack_shared_cached();
    _hak_ss_stats(&ss, &ss_bytes, &stateless_in);
    _hak_large_stats(&large_live, &large_cached, &large_bytes);
    uint64_t in = ctr.in + stateless_in;
    uint64_t held = ctr.out > in ? ctr.out - in : 0;
    memset(st, 0, sizeof *st);
    st->live_small_blocks = held > cached ? (size_t)(held - cached) : 0;
    st->live_large_blocks = large_live;
    st->cached_blocks = (size_t)cached;
    st->superslabs = ss;
    st->mapped_bytes = ss_bytes + large_bytes;
    st->large_cached_spans = large_cached;
    st->threads = nthreads;
    st->remote_frees = (size_t)(ctr.remote_pushes + stateless_in);
    st->adoptions = (size_t)ctr.adoptions;
}

HAK_EXPORT int hak_stats_get(struct hak_stats *out, size_t out_size)
{
    if (out == NULL || out_size < HAK_STATS_V1_SIZE)
        return -1;
    struct hak_stats st;
    stats_collect(&st);
    memcpy(out, &st, out_size < sizeof st ? out_size : sizeof st);
    return 0;
}

HAK_EXPORT void hak_stats_print(FILE *out)
{
    struct hak_stats st;
    stats_collect(&st);
    fprintf(out,
            "hakmem %s, plan %s\n"
            "  live small blocks   %zu\n"
            "  live large blocks   %zu\n"
            "  cached blocks       %zu\n"
            "  superslabs          %zu\n"
            "  mapped bytes        %zu\n"
            "  cached large spans  %zu\n"
            "  threads             %zu\n"
            "  remote frees        %zu\n"
            "  slab adoptions      %zu\n",
            PACKAGE_VERSION, HAK_PLAN_STRING, st.live_small_blocks, st.live_large_blocks,
            st.cached_blocks, st.superslabs, st.mapped_bytes, st.large_cached_spans, st.threads,
            st.remote_frees, st.adoptions);
}
