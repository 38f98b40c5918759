/* hakmem: statistics: hak_stats_get, hak_stats_print, hak_stats_print_json
 * and HAKMEM_STATS (1 or json: printed to stderr at exit).
 *
 * Counters live with the thread that moves the blocks (no shared cache
 * line is written on the hot paths) and are summed here on demand; an
 * exiting thread folds its counters into the process totals. Release
 * builds count only on slow paths (tier misses, refills, spills, SuperSlab
 * traffic); per-tier hits are counted in debug builds only.
 *
 * Printing uses fputs on the caller's FILE, never the printf family, so
 * the release library imports no printf-family function.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "hakmem.h"
#include "tier.h"

/* Fields of the first published struct hak_stats, the least a caller may
 * pass. */
#define HAK_STATS_V1_SIZE (offsetof(struct hak_stats, adoptions) + sizeof(size_t))

struct stats_all {
    struct hak_stats st;
    struct hak_ss_counters ctr;
    size_t resident;
};

static void stats_collect(struct stats_all *all)
{
    struct hak_stats *st = &all->st;
    uint64_t cached, stateless_in;
    uint64_t large_out, large_in;
    size_t nthreads, ss, ss_bytes, large_cached, large_bytes;
    _hak_thread_sum(&all->ctr, &cached, &nthreads);
    cached += _hak_stack_shared_cached();
    if (HAK_TRACK_ON)
        cached += _hak_track_quarantined();
    _hak_ss_stats(&ss, &ss_bytes, &stateless_in);
    _hak_large_stats(&large_out, &large_in, &large_cached, &large_bytes);
    large_out += all->ctr.large_out;
    large_in += all->ctr.large_in;
    all->resident = _hak_ss_resident();
    uint64_t in = all->ctr.in + stateless_in;
    uint64_t held = all->ctr.out > in ? all->ctr.out - in : 0;
    memset(st, 0, sizeof *st);
    st->live_small_blocks = held > cached ? (size_t)(held - cached) : 0;
    /* A block freed by another thread than the one that allocated it may
     * be counted in and not yet out, as the counters are read one by one. */
    st->live_large_blocks = large_out > large_in ? (size_t)(large_out - large_in) : 0;
    st->cached_blocks = (size_t)cached;
    st->superslabs = ss;
    st->mapped_bytes = ss_bytes + large_bytes;
    st->large_cached_spans = large_cached;
    st->threads = nthreads;
    st->remote_frees = (size_t)(all->ctr.remote_pushes + stateless_in);
    st->adoptions = (size_t)all->ctr.adoptions;
}

HAK_EXPORT int hak_stats_get(struct hak_stats *out, size_t out_size)
{
    if (out == NULL || out_size < HAK_STATS_V1_SIZE)
        return -1;
    struct stats_all all;
    stats_collect(&all);
    memcpy(out, &all.st, out_size < sizeof all.st ? out_size : sizeof all.st);
    return 0;
}

/* ---- output without printf ---- */

static void put(FILE *f, const char *s) { fputs(s, f); }

static void put_u(FILE *f, uint64_t v)
{
    char num[24];
    fputs(_hak_utoa(v, num), f);
}

/* "  label", padded to column 28 with at least one space. */
static void put_label(FILE *f, const char *label)
{
    put(f, "  ");
    put(f, label);
    size_t n = strlen(label);
    do
        put(f, " ");
    while (++n < 26);
}

static void put_field(FILE *f, const char *label, uint64_t v)
{
    put_label(f, label);
    put_u(f, v);
    put(f, "\n");
}

static void json_field(FILE *f, const char *name, uint64_t v, bool comma)
{
    put(f, "\"");
    put(f, name);
    put(f, "\":");
    put_u(f, v);
    if (comma)
        put(f, ",");
}

/* The counters both printers show: (text label, JSON key, value), with
 * st and all (heap) or bs (backend) in scope. */
#define HEAP_FIELDS(X)                                                                         \
    X("live small blocks", "live_small_blocks", st->live_small_blocks)                         \
    X("live large blocks", "live_large_blocks", st->live_large_blocks)                         \
    X("cached blocks", "cached_blocks", st->cached_blocks)                                     \
    X("superslabs", "superslabs", st->superslabs)                                              \
    X("mapped bytes", "mapped_bytes", st->mapped_bytes)                                        \
    X("superslab resident bytes", "superslab_resident_bytes", all.resident)                    \
    X("cached large spans", "large_cached_spans", st->large_cached_spans)                      \
    X("threads", "threads", st->threads)                                                       \
    X("remote frees", "remote_frees", st->remote_frees)                                        \
    X("slab adoptions", "adoptions", st->adoptions)                                            \
    X("slabs acquired", "slabs_acquired", all.ctr.slabs_acquired)                              \
    X("slabs released", "slabs_released", all.ctr.slabs_released)
#define BACKEND_FIELDS(X)                                                                      \
    X("backend regions", "regions", bs.regions)                                                \
    X("backend reserved bytes", "reserved_bytes", bs.reserved_bytes)                           \
    X("backend limit bytes", "limit_bytes", bs.limit_bytes)                                    \
    X("decommitted bytes", "decommitted_bytes", bs.decommitted_bytes)                          \
    X("recommitted bytes", "recommitted_bytes", bs.recommitted_bytes)

HAK_EXPORT void hak_stats_print(FILE *out)
{
    struct stats_all all;
    stats_collect(&all);
    const struct hak_stats *st = &all.st;
    put(out, "hakmem " PACKAGE_VERSION ", plan " HAK_PLAN_STRING ", ");
    put(out, HAKMEM_BUILD_RELEASE ? "release" : "debug");
    put(out, " build\n");
#define TEXT_FIELD(label, key, v) put_field(out, label, v);
    HEAP_FIELDS(TEXT_FIELD)
    struct hak_backend_stats bs;
    HAK_BACKEND->stats(&bs);
    put_label(out, "backend");
    put(out, HAK_BACKEND->name);
    put(out, " (");
    put(out, bs.mode);
    put(out, ")\n");
    BACKEND_FIELDS(TEXT_FIELD)
#undef TEXT_FIELD
    for (unsigned level = 0; level < _hak_plan_depth; level++) {
        put(out, "  tier ");
        put(out, _hak_plan_ops[level]->name);
        put(out, ": class size misses refills spills");
        put(out, HAKMEM_BUILD_RELEASE ? "\n" : " hits\n");
        for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
            struct hak_tier_stats ts;
            _hak_thread_tier_stats(level, cls, &ts);
            if (ts.misses + ts.refills + ts.spills + ts.hits == 0)
                continue;
            uint64_t row[] = {cls, hak_class_size(cls), ts.misses, ts.refills, ts.spills, ts.hits};
            size_t ncols = HAKMEM_BUILD_RELEASE ? 5 : 6;
            put(out, "   ");
            for (size_t i = 0; i < ncols; i++) {
                put(out, " ");
                put_u(out, row[i]);
            }
            put(out, "\n");
        }
    }
}

HAK_EXPORT void hak_stats_print_json(FILE *out)
{
    struct stats_all all;
    stats_collect(&all);
    const struct hak_stats *st = &all.st;
    put(out, "{\"version\":\"" PACKAGE_VERSION "\",\"plan\":\"" HAK_PLAN_STRING "\",\"build\":\"");
    put(out, HAKMEM_BUILD_RELEASE ? "release" : "debug");
    put(out, "\",");
#define JSON_FIELD(label, key, v) json_field(out, key, v, true);
    HEAP_FIELDS(JSON_FIELD)
    struct hak_backend_stats bs;
    HAK_BACKEND->stats(&bs);
#undef JSON_FIELD
    put(out, "\"backend\":{\"name\":\"");
    put(out, HAK_BACKEND->name);
    put(out, "\",\"mode\":\"");
    put(out, bs.mode);
    put(out, "\"");
#define JSON_FIELD_AFTER(label, key, v) put(out, ","), json_field(out, key, v, false);
    BACKEND_FIELDS(JSON_FIELD_AFTER)
#undef JSON_FIELD_AFTER
    put(out, "},");
    put(out, "\"tiers\":[");
    for (unsigned level = 0; level < _hak_plan_depth; level++) {
        put(out, level ? ",{\"name\":\"" : "{\"name\":\"");
        put(out, _hak_plan_ops[level]->name);
        put(out, "\",\"classes\":[");
        bool first = true;
        for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
            struct hak_tier_stats ts;
            _hak_thread_tier_stats(level, cls, &ts);
            if (ts.misses + ts.refills + ts.spills + ts.hits == 0)
                continue;
            put(out, first ? "{" : ",{");
            first = false;
            json_field(out, "class", cls, true);
            json_field(out, "size", hak_class_size(cls), true);
            json_field(out, "misses", ts.misses, true);
            json_field(out, "refills", ts.refills, true);
            json_field(out, "spills", ts.spills, !HAKMEM_BUILD_RELEASE);
            if (!HAKMEM_BUILD_RELEASE)
                json_field(out, "hits", ts.hits, false);
            put(out, "}");
        }
        put(out, "]}");
    }
    put(out, "]}\n");
}

__attribute__((destructor)) static void stats_at_exit(void)
{
    if (_hak_opt.stats == 1)
        hak_stats_print(stderr);
    else if (_hak_opt.stats == 2)
        hak_stats_print_json(stderr);
}
