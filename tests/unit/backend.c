/* hakmem unit tests: the backend contract (src/backend.h), written once and
 * run against every backend this build compiled, each called directly
 * through its ops (the process itself allocates through the one
 * HAKMEM_BACKEND chose, os by default).
 *
 * What decommit does to contents is each backend's own, as documented:
 * os and arena zero every page of the range; hugepage in thp mode zeroes
 * only the whole 2 MiB pages inside it, in hugetlb mode nothing, and in its
 * os fallback every page. expect_unit() encodes that.
 *
 * check forks a process per test, so each test initialises its backends
 * afresh; the hugepage cases that fake what sysfs says (through the open()
 * defined below, which the library binds to at link time, as in
 * tests/unit/large.c) need that, and are skipped under CK_FORK=no.
 */
#define _GNU_SOURCE                     /* memfd_create */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define TEST_ARENA (64 * MiB)

/* ---- what sysfs says, faked for the hugepage mode tests ---- */

enum fake { FAKE_NONE, FAKE_NO_HUGE_PAGES, FAKE_RESERVED_POOL };
static enum fake fake_sysfs;

static int fake_file(const char *text)
{
    int fd = memfd_create("fake-sysfs", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return -1;
    lseek(fd, 0, SEEK_SET);
    return fd;
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (fake_sysfs != FAKE_NONE && strncmp(path, "/sys/kernel/mm/", 15) == 0) {
        if (fake_sysfs == FAKE_NO_HUGE_PAGES) {
            errno = ENOENT;
            return -1;
        }
        if (strstr(path, "/nr_hugepages") != NULL)
            return fake_file("8\n");
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* ---- helpers ---- */

static const struct hak_backend_ops *backend(int i)
{
    const struct hak_backend_ops *b = _hak_backends[i];
    if (strcmp(b->name, "arena") == 0 && b != HAK_BACKEND)
        _hak_opt.arena_size = TEST_ARENA;
    ck_assert_msg(b->init(), "%s: init failed", b->name);
    return b;
}

static int nbackends(void)
{
    int n = 0;
    while (_hak_backends[n] != NULL)
        n++;
    return n;
}

static struct hak_backend_stats stats_of(const struct hak_backend_ops *b)
{
    struct hak_backend_stats st;
    b->stats(&st);
    return st;
}

static bool is(const struct hak_backend_ops *b, const char *name)
{
    return strcmp(b->name, name) == 0;
}

/* Address space a region of size bytes takes, as the backend rounds it. */
static size_t rounded(const struct hak_backend_ops *b, size_t size)
{
    return is(b, "arena") ? (size + HAK_SS_SIZE - 1) & ~(HAK_SS_SIZE - 1) : size;
}

/* The unit decommit gives back whole (0: never), per the mode in use. */
static size_t expect_unit(const struct hak_backend_ops *b)
{
    const char *mode = stats_of(b).mode;
    if (strcmp(mode, "hugetlb") == 0)
        return 0;
    if (strcmp(mode, "thp") == 0)
        return HAK_SS_SIZE;
    return HAK_PAGE_SIZE;
}

/* Index of the first byte of [p, p + n) that is not c; n if none. */
static size_t first_not(const unsigned char *p, size_t n, unsigned char c)
{
    size_t i = 0;
    while (i < n && p[i] == c)
        i++;
    return i;
}

static void *reserve_ok(const struct hak_backend_ops *b, size_t size, size_t align)
{
    unsigned char *p = b->reserve(size, align);
    ck_assert_msg(p != NULL, "%s: reserve(%zu, %zu) failed: %s", b->name, size, align,
                  strerror(errno));
    ck_assert_msg(((uintptr_t)p & (align - 1)) == 0, "%s: reserve(%zu, %zu) = %p, misaligned",
                  b->name, size, align, (void *)p);
    return p;
}

static bool mapped(const void *p)
{
    unsigned char v;
    return mincore((void *)((uintptr_t)p & ~(HAK_PAGE_SIZE - 1)), HAK_PAGE_SIZE, &v) == 0;
}

/* ---- alignment, zero fill, and the reserved count ---- */

static const struct {
    size_t size, align;
} shapes[] = {
    {2 * MiB, 2 * MiB},  {4 * MiB, 2 * MiB}, {2 * MiB, 4 * MiB},         {6 * MiB, 8 * MiB},
    {100 * KiB, 2 * MiB}, {2 * MiB + 4 * KiB, 2 * MiB}, {4 * KiB, 16 * MiB},
};

START_TEST(reserve_aligned_zeroed)
{
    const struct hak_backend_ops *b = backend(_i);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t size = shapes[k].size, align = shapes[k].align;
        struct hak_backend_stats before = stats_of(b);
        unsigned char *p = reserve_ok(b, size, align);
        size_t bad = first_not(p, size, 0);
        ck_assert_msg(bad == size, "%s: reserve(%zu, %zu): byte %zu not zero", b->name, size,
                      align, bad);
        memset(p, 0x5a, size);
        struct hak_backend_stats during = stats_of(b);
        ck_assert_uint_eq(during.regions, before.regions + 1);
        ck_assert_uint_eq(during.reserved_bytes, before.reserved_bytes + rounded(b, size));
        b->release(p, size);
        struct hak_backend_stats after = stats_of(b);
        ck_assert_uint_eq(after.regions, before.regions);
        ck_assert_uint_eq(after.reserved_bytes, before.reserved_bytes);
    }
}
END_TEST

START_TEST(reserve_too_big_fails)
{
    const struct hak_backend_ops *b = backend(_i);
    struct hak_backend_stats before = stats_of(b);
    errno = 0;
    ck_assert_ptr_null(b->reserve(SIZE_MAX & ~(HAK_SS_SIZE - 1), HAK_SS_SIZE));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(b->reserve(HAK_SS_SIZE, (size_t)1 << 62));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(stats_of(b).regions, before.regions);
}
END_TEST

/* ---- decommit: contents as documented, memory reusable after commit ---- */

START_TEST(decommit_then_commit)
{
    const struct hak_backend_ops *b = backend(_i);
    size_t size = 4 * MiB, unit = expect_unit(b);
    unsigned char *p = reserve_ok(b, size, HAK_SS_SIZE);
    memset(p, 0xab, size);
    struct hak_backend_stats before = stats_of(b);
    /* A free slab (64 KiB inside the first 2 MiB), then a whole 2 MiB. */
    unsigned char *slab = p + 64 * KiB, *whole = p + 2 * MiB;
    b->decommit(slab, 64 * KiB);
    b->decommit(whole, 2 * MiB);
    size_t slab_back = unit != 0 && unit <= 64 * KiB ? 64 * KiB : 0;
    size_t whole_back = unit != 0 ? 2 * MiB : 0;
    ck_assert_uint_eq(stats_of(b).decommitted_bytes,
                      before.decommitted_bytes + slab_back + whole_back);

    size_t bad = first_not(slab, 64 * KiB, slab_back ? 0 : 0xab);
    ck_assert_msg(bad == 64 * KiB, "%s (%s): decommitted slab byte %zu is %#x", b->name,
                  stats_of(b).mode, bad, slab[bad]);
    bad = first_not(whole, 2 * MiB, whole_back ? 0 : 0xab);
    ck_assert_msg(bad == 2 * MiB, "%s (%s): decommitted 2 MiB byte %zu is %#x", b->name,
                  stats_of(b).mode, bad, whole[bad]);
    ck_assert_uint_eq(first_not(p, 64 * KiB, 0xab), 64 * KiB);
    ck_assert_uint_eq(first_not(p + 128 * KiB, 2 * MiB - 128 * KiB, 0xab), 2 * MiB - 128 * KiB);

    ck_assert(b->commit(slab, 64 * KiB));
    ck_assert(b->commit(whole, 2 * MiB));
    ck_assert_uint_eq(stats_of(b).recommitted_bytes,
                      before.recommitted_bytes + slab_back + whole_back);
    memset(slab, 0x11, 64 * KiB);
    memset(whole, 0x22, 2 * MiB);
    ck_assert_uint_eq(first_not(slab, 64 * KiB, 0x11), 64 * KiB);
    ck_assert_uint_eq(first_not(whole, 2 * MiB, 0x22), 2 * MiB);
    b->release(p, size);
}
END_TEST

/* Decommitted pages really leave memory where the backend gives them back. */
START_TEST(decommit_drops_resident_pages)
{
    const struct hak_backend_ops *b = backend(_i);
    if (expect_unit(b) == 0)
        return;                         /* hugetlb: kept on purpose */
    size_t size = 2 * MiB;
    unsigned char *p = reserve_ok(b, size, HAK_SS_SIZE);
    memset(p, 1, size);
    unsigned char vec[512];
    ck_assert_int_eq(mincore(p, size, vec), 0);
    ck_assert_uint_eq(vec[0] & 1, 1);
    b->decommit(p, size);
    ck_assert_int_eq(mincore(p, size, vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < sizeof vec; i++)
        resident += vec[i] & 1;
    ck_assert_msg(resident == 0, "%s: %zu pages still resident after decommit", b->name,
                  resident);
    b->release(p, size);
}
END_TEST

/* ---- release gives the region back ---- */

START_TEST(release_returns_region)
{
    const struct hak_backend_ops *b = backend(_i);
    size_t size = 2 * MiB;
    unsigned char *p = reserve_ok(b, size, HAK_SS_SIZE);
    memset(p, 0x77, size);
    b->release(p, size);
    if (stats_of(b).limit_bytes == 0) {
        /* Unmapped: the kernel no longer knows the address. */
        ck_assert_msg(!mapped(p), "%s: %p still mapped after release", b->name, (void *)p);
        return;
    }
    /* Bounded (arena): first fit hands the same chunk out again, zeroed. */
    unsigned char *q = reserve_ok(b, size, HAK_SS_SIZE);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(first_not(q, size, 0), size);
    b->release(q, size);
}
END_TEST

/* ---- the counts add up over many regions ---- */

START_TEST(stats_add_up)
{
    const struct hak_backend_ops *b = backend(_i);
    struct hak_backend_stats base = stats_of(b);
    ck_assert_ptr_nonnull(base.mode);
    if (is(b, "arena"))
        ck_assert_uint_gt(base.limit_bytes, 0);
    else
        ck_assert_uint_eq(base.limit_bytes, 0);
    enum { N = 6 };
    void *r[N];
    size_t sz[N], total = 0;
    for (int k = 0; k < N; k++) {
        sz[k] = (size_t)(k % 3 + 1) * 2 * MiB - (k == 4 ? 12 * KiB : 0);
        r[k] = reserve_ok(b, sz[k], HAK_SS_SIZE);
        total += rounded(b, sz[k]);
        struct hak_backend_stats st = stats_of(b);
        ck_assert_uint_eq(st.regions, base.regions + (size_t)k + 1);
        ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes + total);
        if (st.limit_bytes)
            ck_assert_uint_le(st.reserved_bytes, st.limit_bytes);
    }
    for (int k = 0; k < N; k += 2) {
        b->release(r[k], sz[k]);
        total -= rounded(b, sz[k]);
    }
    struct hak_backend_stats st = stats_of(b);
    ck_assert_uint_eq(st.regions, base.regions + N / 2);
    ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes + total);
    for (int k = 1; k < N; k += 2)
        b->release(r[k], sz[k]);
    st = stats_of(b);
    ck_assert_uint_eq(st.regions, base.regions);
    ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes);
}
END_TEST

/* ---- a split region's parts live on their own ---- */

/* Where a backend remaps, it splits (large.c counts on both), and each
 * part then keeps its contents, resizes and goes back alone. */
START_TEST(split_parts_live_alone)
{
    const struct hak_backend_ops *b = backend(_i);
    bool remaps = b->resize != NULL && (b->remaps == NULL || b->remaps());
    ck_assert_msg((b->split != NULL) == (b->resize != NULL), "%s: split and resize disagree",
                  b->name);
    if (!remaps)
        return;
    struct hak_backend_stats base = stats_of(b);
    size_t size = 6 * MiB + 8 * KiB, at = 2 * MiB;
    unsigned char *p = reserve_ok(b, size, HAK_SS_SIZE);
    memset(p, 0x5a, size);
    b->split(p, size, at);
    struct hak_backend_stats st = stats_of(b);
    ck_assert_uint_eq(st.regions, base.regions + 2);
    ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes + size);

    ck_assert_msg(b->resize(p, at, 1 * MiB), "%s: the head did not shrink", b->name);
    ck_assert(!mapped(p + 1 * MiB));
    ck_assert(mapped(p + at));
    ck_assert_uint_eq(first_not(p, 1 * MiB, 0x5a), 1 * MiB);
    ck_assert_uint_eq(first_not(p + at, size - at, 0x5a), size - at);

    b->release(p + at, size - at);
    ck_assert(!mapped(p + at));
    ck_assert_uint_eq(first_not(p, 1 * MiB, 0x5a), 1 * MiB);
    st = stats_of(b);
    ck_assert_uint_eq(st.regions, base.regions + 1);
    ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes + 1 * MiB);
    b->release(p, 1 * MiB);
    st = stats_of(b);
    ck_assert_uint_eq(st.regions, base.regions);
    ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes);
}
END_TEST

/* ---- a bounded backend fails at its bound, and recovers ---- */

START_TEST(exhaust_and_recover)
{
    const struct hak_backend_ops *b = backend(_i);
    struct hak_backend_stats base = stats_of(b);
    if (base.limit_bytes == 0 || b == HAK_BACKEND)
        return;                         /* unbounded, or this process's own heap */
    size_t room = (base.limit_bytes - base.reserved_bytes) / HAK_SS_SIZE, n = 0;
    void **r = calloc(room + 1, sizeof *r);
    while (n <= room && (r[n] = b->reserve(HAK_SS_SIZE, HAK_SS_SIZE)) != NULL)
        n++;
    ck_assert_uint_eq(n, room);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(stats_of(b).reserved_bytes, base.limit_bytes);
    /* Two adjacent chunks free: a 4 MiB region fits again, nothing more. */
    b->release(r[1], HAK_SS_SIZE);
    b->release(r[2], HAK_SS_SIZE);
    void *big = reserve_ok(b, 4 * MiB, HAK_SS_SIZE);
    ck_assert_ptr_eq(big, r[1]);
    ck_assert_ptr_null(b->reserve(HAK_SS_SIZE, HAK_SS_SIZE));
    b->release(big, 4 * MiB);
    for (size_t k = 0; k < n; k++)
        if (k != 1 && k != 2)
            b->release(r[k], HAK_SS_SIZE);
    ck_assert_uint_eq(stats_of(b).reserved_bytes, base.reserved_bytes);
    free(r);
}
END_TEST

/* ---- threads: regions never overlap ---- */

#define THREADS 4
#define HELD 3
#define ROUNDS 300

struct worker {
    const struct hak_backend_ops *b;
    unsigned id;
    int failed_line;
};

#define EXPECT(w, cond)                                                                        \
    do {                                                                                       \
        if (!(cond) && (w)->failed_line == 0)                                                  \
            (w)->failed_line = __LINE__;                                                       \
    } while (0)

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t *held[HELD] = {0};
    size_t size[HELD] = {0};
    uint64_t rng = w->id + 1;
    for (unsigned round = 0; round < ROUNDS; round++) {
        unsigned k = round % HELD;
        if (held[k] != NULL) {
            uint64_t tag = ((uint64_t)w->id << 32) | k;
            EXPECT(w, held[k][0] == tag && held[k][size[k] / 8 - 1] == tag);
            w->b->release(held[k], size[k]);
        }
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size[k] = (1 + rng % 2) * 2 * MiB;
        held[k] = w->b->reserve(size[k], HAK_SS_SIZE);
        EXPECT(w, held[k] != NULL);
        if (held[k] == NULL)
            break;
        EXPECT(w, held[k][0] == 0 && held[k][size[k] / 8 - 1] == 0);
        held[k][0] = held[k][size[k] / 8 - 1] = ((uint64_t)w->id << 32) | k;
    }
    for (unsigned k = 0; k < HELD; k++)
        if (held[k] != NULL)
            w->b->release(held[k], size[k]);
    return NULL;
}

START_TEST(threads_never_share)
{
    const struct hak_backend_ops *b = backend(_i);
    struct hak_backend_stats base = stats_of(b);
    struct worker w[THREADS];
    pthread_t tid[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        w[t] = (struct worker){.b = b, .id = t + 1};
        ck_assert_int_eq(pthread_create(&tid[t], NULL, worker_main, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        ck_assert_int_eq(pthread_join(tid[t], NULL), 0);
        ck_assert_msg(w[t].failed_line == 0, "%s: thread %u: line %d", b->name, t,
                      w[t].failed_line);
    }
    struct hak_backend_stats st = stats_of(b);
    ck_assert_uint_eq(st.regions, base.regions);
    ck_assert_uint_eq(st.reserved_bytes, base.reserved_bytes);
}
END_TEST

/* ---- hugepage: the modes, real and faked ---- */

#if HAK_HAVE_BACKEND_HUGEPAGE
/* Whether the hugepage backend can be initialised afresh here: check runs
 * each test in a process of its own (CK_FORK), and the process's heap is
 * not on it already. */
static bool fresh_hugepage(void)
{
    const char *f = getenv("CK_FORK");
    return (f == NULL || strcmp(f, "no") != 0) && HAK_BACKEND != &_hak_backend_hugepage;
}

/* AnonHugePages (kB) of the mapping holding p, from /proc/self/smaps. */
static long anon_huge_kb(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    bool in = false;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        /* Only a mapping's header line starts "start-end"; field names
         * that begin with a hex letter stop at the second character. */
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

static bool thp_on(void)
{
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL)
        return false;
    bool on = fgets(buf, sizeof buf, f) != NULL &&
              (strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL);
    fclose(f);
    return on;
}

/* With THP on and no reserved pool (this machine, or most CI runners), a
 * touched SuperSlab is one huge page. */
START_TEST(hugepage_thp_backs_superslabs)
{
    const struct hak_backend_ops *b = backend(_i);
    const char *mode = stats_of(b).mode;
    if (strcmp(mode, "thp") != 0) {
        ck_assert_msg(strcmp(mode, "hugetlb") == 0 || !thp_on(), "mode %s with THP on", mode);
        return;
    }
    size_t size = 8 * MiB;
    unsigned char *p = reserve_ok(b, size, HAK_SS_SIZE);
    memset(p, 3, size);
    long kb = anon_huge_kb(p);
    ck_assert_msg(kb >= 2048, "AnonHugePages of the region: %ld kB", kb);
    b->release(p, size);
}
END_TEST

START_TEST(hugepage_falls_back_to_os)
{
    if (!fresh_hugepage())
        return;
    fake_sysfs = FAKE_NO_HUGE_PAGES;
    const struct hak_backend_ops *b = &_hak_backend_hugepage;
    ck_assert(b->init());
    ck_assert_str_eq(stats_of(b).mode, "os-fallback");
    unsigned char *p = reserve_ok(b, 4 * MiB, HAK_SS_SIZE);
    memset(p, 9, 4 * MiB);
    b->decommit(p + 64 * KiB, 64 * KiB);        /* 4 KiB pages: any range goes back */
    ck_assert_uint_eq(first_not(p + 64 * KiB, 64 * KiB, 0), 64 * KiB);
    ck_assert_uint_eq(anon_huge_kb(p), 0);
    b->release(p, 4 * MiB);
}
END_TEST

/* A pool that sysfs reports but mmap cannot use (here: faked) makes every
 * SuperSlab fall back, said once, and the backend still serves. */
START_TEST(hugepage_pool_dry_falls_back)
{
    if (!fresh_hugepage())
        return;
    fake_sysfs = FAKE_RESERVED_POOL;
    const struct hak_backend_ops *b = &_hak_backend_hugepage;
    ck_assert(b->init());
    ck_assert_str_eq(stats_of(b).mode, "hugetlb");
    void *r[4];
    for (int k = 0; k < 4; k++) {
        r[k] = reserve_ok(b, 2 * MiB, HAK_SS_SIZE);
        memset(r[k], k + 1, 2 * MiB);
    }
    b->decommit(r[0], 2 * MiB);                 /* hugetlb mode: kept */
    ck_assert_uint_eq(first_not(r[0], 2 * MiB, 1), 2 * MiB);
    for (int k = 0; k < 4; k++)
        b->release(r[k], 2 * MiB);
    ck_assert_uint_eq(stats_of(b).regions, 0);
}
END_TEST
#endif

static Suite *suite(void)
{
    Suite *s = suite_create("backend");
    int n = nbackends();
    TCase *tc = tcase_create("contract");
    tcase_add_loop_test(tc, reserve_aligned_zeroed, 0, n);
    tcase_add_loop_test(tc, reserve_too_big_fails, 0, n);
    tcase_add_loop_test(tc, decommit_then_commit, 0, n);
    tcase_add_loop_test(tc, decommit_drops_resident_pages, 0, n);
    tcase_add_loop_test(tc, release_returns_region, 0, n);
    tcase_add_loop_test(tc, stats_add_up, 0, n);
    tcase_add_loop_test(tc, split_parts_live_alone, 0, n);
    tcase_add_loop_test(tc, exhaust_and_recover, 0, n);
    tcase_add_loop_test(tc, threads_never_share, 0, n);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
#if HAK_HAVE_BACKEND_HUGEPAGE
    int hp = 0;
    while (_hak_backends[hp] != &_hak_backend_hugepage)
        hp++;
    tc = tcase_create("hugepage");
    tcase_add_loop_test(tc, hugepage_thp_backs_superslabs, hp, hp + 1);
    tcase_add_test(tc, hugepage_falls_back_to_os);
    tcase_add_test(tc, hugepage_pool_dry_falls_back);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
#endif
    return s;
}

#include "check_main.h"
