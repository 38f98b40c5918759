/* hakmem tests: the malloc API, black-box, against glibc 2.36 semantics
 * (aligned_alloc follows glibc 2.38 / C17: a non-power-of-two alignment
 * fails with EINVAL).
 *
 * The test binary links the whole library, so the C library names are
 * hakmem's shim. Every test that the hak_* exports also offer runs once
 * per entry of `apis`, through function pointers: besides covering both
 * entry points, that keeps the compiler from reasoning about malloc and
 * friends as builtins (removing an unused malloc/free pair, assuming
 * errno survives free, ...), so each call really reaches the allocator.
 * Built with --disable-override there is no shim: only hak_* is tested.
 * Tests of hakmem itself (statistics, fork) call hak_* directly.
 */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hakmem.h"
#include "quick.h"

#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_CLO_CHANGE(option) ((void)0)
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The largest class size (HAK_SMALL_MAX); sizes above it are large. */
#define SMALL_MAX (32 * KiB)

struct api {
    const char *name;
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    size_t (*usable)(const void *);
};

#if HAK_OVERRIDE
static size_t shim_usable(const void *p) { return malloc_usable_size((void *)p); }
#endif

static const struct api apis[] = {
#if HAK_OVERRIDE
    {"libc", malloc, calloc, realloc, reallocarray, free, posix_memalign, aligned_alloc,
     shim_usable},
#endif
    {"hak", hak_malloc, hak_calloc, hak_realloc, hak_reallocarray, hak_free, hak_posix_memalign,
     hak_aligned_alloc, hak_usable_size},
};

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static double scale_factor = 1;

static void scale_read(void)
{
    const char *s = getenv("HAK_TEST_SCALE");
    double f = s != NULL ? strtod(s, NULL) : 1;
    scale_factor = f > 0 ? f : 1;
}

/* n times HAK_TEST_SCALE (make check-valgrind sets it), at least 2: the
 * loops below repeat their work for confidence, not for coverage. The
 * tests' threads call it too, so the factor is read once, under
 * pthread_once. */
static unsigned scaled(unsigned n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, scale_read);
    double k = n * scale_factor;
    return k > 2 ? (unsigned)k : 2;
}

static bool aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* A position-dependent pattern, so a copy to the wrong offset is caught. */
static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)(seed ^ (i * 31) ^ (i >> 9));
}

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(i, seed);
}

static bool has_pattern(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(i, seed))
            return false;
    return true;
}

static bool all_bytes(const void *p, int c, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)c)
            return false;
    return true;
}

/* Sizes that no allocator can serve: beyond PTRDIFF_MAX, or beyond any
 * address space. */
static const size_t too_big[] = {
    SIZE_MAX,
    SIZE_MAX - 4095,
    (size_t)PTRDIFF_MAX + 1,
    PTRDIFF_MAX,
    PTRDIFF_MAX - 4096,
    (size_t)1 << 62,
};

/* ---- malloc(0) and friends: unique, freeable pointers ---- */

START_TEST(zero_size_gives_unique_pointers)
{
    const struct api *A = &apis[_i];
    void *p[9];
    p[0] = A->malloc(0);
    p[1] = A->malloc(0);
    p[2] = A->calloc(0, 0);
    p[3] = A->calloc(0, 16);
    p[4] = A->calloc(16, 0);
    p[5] = A->realloc(NULL, 0);
    p[6] = A->aligned_alloc(64, 0);
    /* Alignments above the largest class take the large-span path. */
    p[7] = A->aligned_alloc(64 * KiB, 0);
    ck_assert_int_eq(A->posix_memalign(&p[8], 2 * MiB, 0), 0);
    for (size_t i = 0; i < ARRAY_LEN(p); i++) {
        ck_assert_msg(p[i] != NULL, "%s: zero-size allocation #%zu returned NULL", A->name, i);
        ck_assert_msg(aligned(p[i], 16), "%s: #%zu misaligned", A->name, i);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(p[i] != p[j], "%s: zero-size allocations #%zu and #%zu are both %p",
                          A->name, j, i, p[i]);
    }
    for (size_t i = 0; i < ARRAY_LEN(p); i++)
        A->free(p[i]);
}
END_TEST

/* ---- every class boundary and large sizes up to 256 MiB ---- */

/* 0..80 byte by byte, then each class size of the documented scheme (four
 * per doubling above 64) with its neighbours, then large sizes around the
 * 2 MiB chunk and the large-span cache limit. Ascending, no duplicates. */
static size_t boundary_sizes(size_t *out)
{
    size_t n = 0;
    for (size_t s = 0; s <= 80; s++)
        out[n++] = s;
    for (size_t base = 64; base < SMALL_MAX; base *= 2)
        for (size_t j = 1; j <= 4; j++)
            for (size_t c = base + j * base / 4 - 1; c <= base + j * base / 4 + 1; c++)
                if (c > out[n - 1])
                    out[n++] = c;
    static const size_t large[] = {
        48 * KiB,     64 * KiB - 1, 64 * KiB, 100000,      MiB - 1,     MiB,
        2 * MiB - 64, 2 * MiB - 1,  2 * MiB,  2 * MiB + 1, 4 * MiB + 1, 16 * MiB - 4096,
        16 * MiB,     16 * MiB + 1, 64 * MiB, 256 * MiB,
    };
    for (size_t i = 0; i < ARRAY_LEN(large); i++)
        out[n++] = large[i];
    return n;
}

START_TEST(sizes_aligned_usable_writable)
{
    const struct api *A = &apis[_i];
    size_t sizes[256];
    size_t n = boundary_sizes(sizes);
    ck_assert_uint_le(n, ARRAY_LEN(sizes));
    void *blocks[256];
    for (size_t i = 0; i < n; i++) {
        size_t s = sizes[i];
        void *p = A->malloc(s);
        ck_assert_msg(p != NULL, "%s: malloc(%zu) failed", A->name, s);
        ck_assert_msg(aligned(p, 16), "%s: malloc(%zu) = %p not 16-aligned", A->name, s, p);
        size_t u = A->usable(p);
        ck_assert_msg(u >= s, "%s: usable(malloc(%zu)) = %zu", A->name, s, u);
        memset(p, (int)(i & 0xff), u);
        blocks[i] = p;
    }
    /* All blocks are still live: a block overlapping another shows up
     * as the other's fill byte. */
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(all_bytes(blocks[i], (int)(i & 0xff), A->usable(blocks[i])),
                      "%s: block of size %zu overwritten by another block", A->name, sizes[i]);
    for (size_t i = 0; i < n; i++)
        A->free(blocks[i]);
}
END_TEST

START_TEST(too_big_fails_with_enomem)
{
    const struct api *A = &apis[_i];
    for (size_t i = 0; i < ARRAY_LEN(too_big); i++) {
        size_t s = too_big[i];
        errno = 0;
        ck_assert_msg(A->malloc(s) == NULL, "%s: malloc(%zu) succeeded", A->name, s);
        ck_assert_msg(errno == ENOMEM, "%s: malloc(%zu): errno %d", A->name, s, errno);
        errno = 0;
        ck_assert_msg(A->calloc(1, s) == NULL, "%s: calloc(1, %zu) succeeded", A->name, s);
        ck_assert_msg(errno == ENOMEM, "%s: calloc(1, %zu): errno %d", A->name, s, errno);
        errno = 0;
        ck_assert_msg(A->realloc(NULL, s) == NULL, "%s: realloc(NULL, %zu) succeeded", A->name, s);
        ck_assert_msg(errno == ENOMEM, "%s: realloc(NULL, %zu): errno %d", A->name, s, errno);
        errno = 0;
        ck_assert_msg(A->aligned_alloc(4096, s) == NULL, "%s: aligned_alloc(4096, %zu) succeeded",
                      A->name, s);
        ck_assert_msg(errno == ENOMEM, "%s: aligned_alloc(4096, %zu): errno %d", A->name, s, errno);
        void *sentinel = &sentinel, *p = sentinel;
        int r = A->posix_memalign(&p, 64, s);
        ck_assert_msg(r == ENOMEM, "%s: posix_memalign(64, %zu) = %d", A->name, s, r);
        ck_assert_msg(p == sentinel, "%s: posix_memalign(64, %zu) wrote *memptr", A->name, s);
    }
}
END_TEST

/* ---- calloc ---- */

/* Each size is first allocated, dirtied over its usable size and freed
 * several times, so calloc is served from recycled blocks (small) and
 * cached spans (large), not only from fresh zero pages. */
static const size_t calloc_sizes[] = {
    1, 16, 24, 100, 1000, 4096, 20000, SMALL_MAX, SMALL_MAX + 1, 100000, MiB, 3 * MiB, 20 * MiB,
};

START_TEST(calloc_zeroes_recycled_blocks)
{
    const struct api *A = &apis[_i];
    enum { K = 8 };
    for (size_t i = 0; i < ARRAY_LEN(calloc_sizes); i++) {
        size_t s = calloc_sizes[i];
        void *p[K];
        for (int k = 0; k < K; k++) {
            p[k] = A->malloc(s);
            ck_assert_ptr_nonnull(p[k]);
            memset(p[k], 0xa5, A->usable(p[k]));
        }
        for (int k = 0; k < K; k++)
            A->free(p[k]);
        for (int k = 0; k < K; k++) {
            p[k] = A->calloc(1, s);
            ck_assert_msg(p[k] != NULL, "%s: calloc(1, %zu) failed", A->name, s);
            ck_assert_msg(all_bytes(p[k], 0, s), "%s: calloc(1, %zu) #%d not zeroed", A->name, s,
                          k);
            memset(p[k], 0x5a, A->usable(p[k]));
        }
        for (int k = 0; k < K; k++)
            A->free(p[k]);
        /* nmemb * size, the other way round. */
        void *q = A->calloc(s, 1);
        ck_assert_msg(q != NULL && all_bytes(q, 0, s), "%s: calloc(%zu, 1) not zeroed", A->name, s);
        A->free(q);
    }
}
END_TEST

/* A large span freed from an over-aligned allocation keeps its header
 * elsewhere; calloc reusing it must still hand out zeroes. */
START_TEST(calloc_zeroes_recycled_aligned_spans)
{
    const struct api *A = &apis[_i];
    static const size_t aligns[] = {4096, 64 * KiB, MiB};
    static const size_t sizes[] = {40000, 100000, MiB};
    for (size_t a = 0; a < ARRAY_LEN(aligns); a++)
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            void *p;
            ck_assert_int_eq(A->posix_memalign(&p, aligns[a], sizes[i]), 0);
            memset(p, 0xa5, A->usable(p));
            A->free(p);
            void *q = A->calloc(sizes[i], 1);
            ck_assert_msg(q != NULL && all_bytes(q, 0, sizes[i]),
                          "%s: calloc(%zu) after an aligned block of alignment %zu: not zeroed",
                          A->name, sizes[i], aligns[a]);
            A->free(q);
        }
}
END_TEST

static const struct {
    size_t nmemb, size;
} calloc_overflows[] = {
    {SIZE_MAX, 2},
    {2, SIZE_MAX},
    {SIZE_MAX / 2 + 1, 2},
    {(size_t)1 << 32, (size_t)1 << 32},
    {SIZE_MAX, SIZE_MAX},
    {65536, SIZE_MAX / 65536 + 1},
    {SIZE_MAX / 3 + 1, 3},
};

START_TEST(calloc_overflow_fails_with_enomem)
{
    const struct api *A = &apis[_i];
    for (size_t i = 0; i < ARRAY_LEN(calloc_overflows); i++) {
        size_t nm = calloc_overflows[i].nmemb, sz = calloc_overflows[i].size;
        errno = 0;
        ck_assert_msg(A->calloc(nm, sz) == NULL, "%s: calloc(%zu, %zu) succeeded", A->name, nm,
                      sz);
        ck_assert_msg(errno == ENOMEM, "%s: calloc(%zu, %zu): errno %d", A->name, nm, sz, errno);
    }
}
END_TEST

/* ---- realloc and reallocarray ---- */

START_TEST(reallocarray_overflow_keeps_block)
{
    const struct api *A = &apis[_i];
    static const size_t old_sizes[] = {100, 100000};
    for (size_t o = 0; o < ARRAY_LEN(old_sizes); o++) {
        size_t old = old_sizes[o];
        unsigned char *p = A->malloc(old);
        ck_assert_ptr_nonnull(p);
        fill(p, old, 7);
        for (size_t i = 0; i < ARRAY_LEN(calloc_overflows); i++) {
            size_t nm = calloc_overflows[i].nmemb, sz = calloc_overflows[i].size;
            errno = 0;
            ck_assert_msg(A->reallocarray(p, nm, sz) == NULL,
                          "%s: reallocarray(%zu-byte block, %zu, %zu) succeeded", A->name, old, nm,
                          sz);
            ck_assert_msg(errno == ENOMEM, "%s: reallocarray(%zu, %zu): errno %d", A->name, nm, sz,
                          errno);
            ck_assert_msg(has_pattern(p, old, 7), "%s: failed reallocarray changed the block",
                          A->name);
        }
        p = A->reallocarray(p, 30, 7);
        ck_assert_msg(p != NULL && has_pattern(p, 210 < old ? 210 : old, 7),
                      "%s: reallocarray(p, 30, 7) lost the contents", A->name);
        A->free(p);
    }
    void *z = A->reallocarray(NULL, 0, 0);
    ck_assert_msg(z != NULL, "%s: reallocarray(NULL, 0, 0) is malloc(0)", A->name);
    A->free(z);
}
END_TEST

START_TEST(realloc_null_is_malloc)
{
    const struct api *A = &apis[_i];
    static const size_t sizes[] = {1, 17, 1000, SMALL_MAX, SMALL_MAX + 1, 5 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        void *p = A->realloc(NULL, sizes[i]);
        ck_assert_msg(p != NULL && aligned(p, 16), "%s: realloc(NULL, %zu) = %p", A->name,
                      sizes[i], p);
        ck_assert_uint_ge(A->usable(p), sizes[i]);
        memset(p, 1, A->usable(p));
        A->free(p);
    }
}
END_TEST

static const struct {
    size_t from, to;
} realloc_moves[] = {
    {24, 200},       {100, 1000},      {1000, 100},       {SMALL_MAX, 16},   {64, 64},
    {1, SMALL_MAX},  {100, 100000},    {SMALL_MAX, SMALL_MAX + 1}, {100000, 100},
    {40000, SMALL_MAX}, {40000, 5 * MiB}, {MiB, 20 * MiB},  {20 * MiB, MiB},   {5 * MiB, 4 * MiB},
    {100000, 60000}, {3 * MiB, 3 * MiB + 1},
};

START_TEST(realloc_preserves_contents)
{
    const struct api *A = &apis[_i];
    for (size_t i = 0; i < ARRAY_LEN(realloc_moves); i++) {
        size_t from = realloc_moves[i].from, to = realloc_moves[i].to;
        unsigned seed = (unsigned)i + 1;
        void *p = A->malloc(from);
        ck_assert_ptr_nonnull(p);
        fill(p, from, seed);
        void *q = A->realloc(p, to);
        ck_assert_msg(q != NULL, "%s: realloc(%zu -> %zu) failed", A->name, from, to);
        ck_assert_msg(aligned(q, 16), "%s: realloc(%zu -> %zu) misaligned", A->name, from, to);
        ck_assert_msg(A->usable(q) >= to, "%s: realloc(%zu -> %zu): usable %zu", A->name, from,
                      to, A->usable(q));
        ck_assert_msg(has_pattern(q, from < to ? from : to, seed),
                      "%s: realloc(%zu -> %zu) lost the contents", A->name, from, to);
        memset(q, 0, A->usable(q));
        A->free(q);
    }
}
END_TEST

/* Grow one block step by step through every tier of sizes, then shrink it
 * back: the prefix written at the start must survive every move. */
START_TEST(realloc_chain_preserves_contents)
{
    const struct api *A = &apis[_i];
    size_t size = 8;
    unsigned char *p = A->malloc(size);
    ck_assert_ptr_nonnull(p);
    fill(p, size, 3);
    while (size < 64 * MiB) {
        size_t next = size * 2 + 13;
        p = A->realloc(p, next);
        ck_assert_msg(p != NULL && has_pattern(p, size, 3), "%s: realloc grow to %zu", A->name,
                      next);
        fill(p, next, 3);
        size = next;
    }
    while (size > 8) {
        size_t next = size / 3;
        p = A->realloc(p, next);
        ck_assert_msg(p != NULL && has_pattern(p, next, 3), "%s: realloc shrink to %zu", A->name,
                      next);
        size = next;
    }
    A->free(p);
}
END_TEST

START_TEST(realloc_zero_frees)
{
    const struct api *A = &apis[_i];
    static const size_t sizes[] = {1, 100, SMALL_MAX, 100000, 20 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        struct hak_stats before, after;
        void *p = A->malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(hak_stats_get(&before, sizeof before), 0);
        errno = EILSEQ;
        ck_assert_msg(A->realloc(p, 0) == NULL, "%s: realloc(p, 0) of %zu bytes is not NULL",
                      A->name, sizes[i]);
        ck_assert_msg(errno == EILSEQ, "%s: realloc(p, 0) set errno %d", A->name, errno);
        ck_assert_int_eq(hak_stats_get(&after, sizeof after), 0);
        if (sizes[i] > SMALL_MAX)
            ck_assert_msg(after.live_large_blocks + 1 == before.live_large_blocks,
                          "%s: realloc(p, 0) of %zu bytes did not free it (live large %zu -> %zu)",
                          A->name, sizes[i], before.live_large_blocks, after.live_large_blocks);
    }
}
END_TEST

START_TEST(realloc_failure_keeps_block)
{
    const struct api *A = &apis[_i];
    static const size_t sizes[] = {100, 100000};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        void *p = A->malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        fill(p, sizes[i], 9);
        for (size_t j = 0; j < ARRAY_LEN(too_big); j++) {
            errno = 0;
            ck_assert_msg(A->realloc(p, too_big[j]) == NULL, "%s: realloc(p, %zu) succeeded",
                          A->name, too_big[j]);
            ck_assert_msg(errno == ENOMEM, "%s: realloc(p, %zu): errno %d", A->name, too_big[j],
                          errno);
            ck_assert_msg(has_pattern(p, sizes[i], 9), "%s: failed realloc changed the block",
                          A->name);
        }
        A->free(p);
    }
}
END_TEST

/* ---- posix_memalign, aligned_alloc, memalign, valloc, pvalloc ---- */

static const size_t align_sizes[] = {0, 1, 100, 5000, 40000, MiB};

/* Not a power of two, or not a multiple of sizeof(void *). */
static const size_t pm_bad_aligns[] = {
    0, 1, 2, 3, sizeof(void *) / 2, 12, 24, 48, 100, 4095, 4097, 3 * MiB, SIZE_MAX,
    ((size_t)1 << 63) + 8,
};

START_TEST(posix_memalign_rejects_bad_alignment)
{
    const struct api *A = &apis[_i];
    for (size_t i = 0; i < ARRAY_LEN(pm_bad_aligns); i++) {
        void *sentinel = &sentinel, *p = sentinel;
        int r = A->posix_memalign(&p, pm_bad_aligns[i], 16);
        ck_assert_msg(r == EINVAL, "%s: posix_memalign(alignment %zu) = %d, want EINVAL", A->name,
                      pm_bad_aligns[i], r);
        ck_assert_msg(p == sentinel, "%s: posix_memalign(alignment %zu) wrote *memptr", A->name,
                      pm_bad_aligns[i]);
    }
}
END_TEST

/* Allocates every (alignment, size) pair, keeps all live, checks each is
 * aligned, large enough and not overlapping any other. */
static void check_aligned_allocs(const struct api *A, bool posix, size_t min_align,
                                 size_t max_align)
{
    const char *fn = posix ? "posix_memalign" : "aligned_alloc";
    enum { MAX = 32 * ARRAY_LEN(align_sizes) };
    void *blocks[MAX];
    size_t n = 0;
    for (size_t a = min_align; a <= max_align; a *= 2)
        for (size_t i = 0; i < ARRAY_LEN(align_sizes); i++) {
            size_t s = align_sizes[i];
            void *p = NULL;
            if (posix) {
                int r = A->posix_memalign(&p, a, s);
                ck_assert_msg(r == 0, "%s: posix_memalign(%zu, %zu) = %d", A->name, a, s, r);
            } else {
                p = A->aligned_alloc(a, s);
            }
            ck_assert_msg(p != NULL, "%s: %s(%zu, %zu) returned NULL", A->name, fn, a, s);
            ck_assert_msg(aligned(p, a), "%s: %s(%zu, %zu) = %p misaligned", A->name, fn, a, s, p);
            ck_assert_msg(aligned(p, 16), "%s: %s(%zu, %zu) = %p not 16-aligned", A->name, fn, a,
                          s, p);
            size_t u = A->usable(p);
            ck_assert_msg(u >= s, "%s: %s(%zu, %zu): usable %zu", A->name, fn, a, s, u);
            memset(p, (int)(n & 0xff), u);
            ck_assert_uint_lt(n, MAX);
            blocks[n++] = p;
        }
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(all_bytes(blocks[i], (int)(i & 0xff), A->usable(blocks[i])),
                      "%s: %s block #%zu overwritten by another block", A->name, fn, i);
    for (size_t i = 0; i < n; i++)
        A->free(blocks[i]);
}

START_TEST(posix_memalign_power_of_two_alignments)
{
    check_aligned_allocs(&apis[_i], true, sizeof(void *), 4 * MiB);
}
END_TEST

START_TEST(aligned_alloc_power_of_two_alignments)
{
    check_aligned_allocs(&apis[_i], false, 1, 4 * MiB);
}
END_TEST

/* A valid alignment no address space can honour: ENOMEM, not a crash or
 * a wrapped-around size. */
START_TEST(huge_power_of_two_alignment_fails_with_enomem)
{
    const struct api *A = &apis[_i];
    static const size_t aligns[] = {(size_t)1 << 62, (size_t)1 << 63};
    static const size_t sizes[] = {0, 1, 4096, MiB};
    for (size_t a = 0; a < ARRAY_LEN(aligns); a++)
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            void *sentinel = &sentinel, *p = sentinel;
            int r = A->posix_memalign(&p, aligns[a], sizes[i]);
            ck_assert_msg(r == ENOMEM && p == sentinel, "%s: posix_memalign(%#zx, %zu) = %d",
                          A->name, aligns[a], sizes[i], r);
            errno = 0;
            ck_assert_msg(A->aligned_alloc(aligns[a], sizes[i]) == NULL,
                          "%s: aligned_alloc(%#zx, %zu) succeeded", A->name, aligns[a], sizes[i]);
            ck_assert_msg(errno == ENOMEM, "%s: aligned_alloc(%#zx, %zu): errno %d", A->name,
                          aligns[a], sizes[i], errno);
        }
}
END_TEST

START_TEST(aligned_alloc_rejects_non_power_of_two)
{
    const struct api *A = &apis[_i];
    static const size_t bad[] = {0, 3, 12, 24, 48, 100, 4095, 4097, 3 * MiB, SIZE_MAX};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        errno = 0;
        ck_assert_msg(A->aligned_alloc(bad[i], 64) == NULL, "%s: aligned_alloc(%zu, 64) succeeded",
                      A->name, bad[i]);
        ck_assert_msg(errno == EINVAL, "%s: aligned_alloc(%zu, 64): errno %d", A->name, bad[i],
                      errno);
    }
}
END_TEST

/* memalign, valloc and pvalloc exist only in the shim. */
#if HAK_OVERRIDE
/* glibc: at most 16 (MALLOC_ALIGNMENT) is plain malloc, below 32
 * (MINSIZE) is 32, anything else not a power of two rounds up to one. */
static const struct {
    size_t asked, got;
} memalign_rounding[] = {
    {0, 16},       {1, 16},       {2, 16},         {8, 16},        {16, 16},
    {17, 32},      {24, 32},      {32, 32},        {48, 64},       {100, 128},
    {4095, 4096},  {4096, 4096},  {5000, 8192},    {MiB + 1, 2 * MiB}, {2 * MiB, 2 * MiB},
};

START_TEST(memalign_rounds_alignment_up)
{
    for (size_t i = 0; i < ARRAY_LEN(memalign_rounding); i++)
        for (size_t j = 0; j < ARRAY_LEN(align_sizes); j++) {
            size_t a = memalign_rounding[i].asked, want = memalign_rounding[i].got;
            size_t s = align_sizes[j];
            void *p = memalign(a, s);
            ck_assert_msg(p != NULL, "memalign(%zu, %zu) failed", a, s);
            ck_assert_msg(aligned(p, want), "memalign(%zu, %zu) = %p, not %zu-aligned", a, s, p,
                          want);
            ck_assert_msg(malloc_usable_size(p) >= s, "memalign(%zu, %zu): usable %zu", a, s,
                          malloc_usable_size(p));
            memset(p, 0xee, malloc_usable_size(p));
            free(p);
        }
}
END_TEST

/* glibc rejects an alignment above SIZE_MAX / 2 + 1 (no power of two
 * fits) with EINVAL; a huge power of two, or an alignment that rounds up
 * to one, is merely unsatisfiable: ENOMEM. */
static const struct {
    size_t align;
    int err;
} memalign_huge[] = {
    {SIZE_MAX, EINVAL},
    {((size_t)1 << 63) + 1, EINVAL},
    {(size_t)1 << 63, ENOMEM},
    {((size_t)1 << 62) + 1, ENOMEM},
    {(size_t)1 << 62, ENOMEM},
};

START_TEST(memalign_huge_alignment_fails)
{
    for (size_t i = 0; i < ARRAY_LEN(memalign_huge); i++) {
        errno = 0;
        void *p = memalign(memalign_huge[i].align, 1);
        ck_assert_msg(p == NULL, "memalign(%zu, 1) succeeded", memalign_huge[i].align);
        ck_assert_msg(errno == memalign_huge[i].err, "memalign(%#zx, 1): errno %d, want %d",
                      memalign_huge[i].align, errno, memalign_huge[i].err);
    }
}
END_TEST

static const size_t page_sizes[] = {0, 1, 100, 4095, 4096, 4097, 40000, MiB, 5 * MiB};

START_TEST(valloc_is_page_aligned)
{
    size_t pg = page_size();
    for (size_t i = 0; i < ARRAY_LEN(page_sizes); i++) {
        size_t s = page_sizes[i];
        void *p = valloc(s);
        ck_assert_msg(p != NULL && aligned(p, pg), "valloc(%zu) = %p", s, p);
        ck_assert_msg(malloc_usable_size(p) >= s, "valloc(%zu): usable %zu", s,
                      malloc_usable_size(p));
        memset(p, 0xee, malloc_usable_size(p));
        free(p);
    }
    for (size_t i = 0; i < ARRAY_LEN(too_big); i++) {
        errno = 0;
        ck_assert_msg(valloc(too_big[i]) == NULL, "valloc(%zu) succeeded", too_big[i]);
        ck_assert_msg(errno == ENOMEM, "valloc(%zu): errno %d", too_big[i], errno);
    }
}
END_TEST

START_TEST(pvalloc_rounds_size_to_pages)
{
    size_t pg = page_size();
    for (size_t i = 0; i < ARRAY_LEN(page_sizes); i++) {
        size_t s = page_sizes[i];
        size_t whole = s == 0 ? pg : (s + pg - 1) / pg * pg;
        void *p = pvalloc(s);
        ck_assert_msg(p != NULL && aligned(p, pg), "pvalloc(%zu) = %p", s, p);
        ck_assert_msg(malloc_usable_size(p) >= whole, "pvalloc(%zu): usable %zu < %zu", s,
                      malloc_usable_size(p), whole);
        memset(p, 0xee, malloc_usable_size(p));
        free(p);
    }
    /* Rounding up to a page overflows, or the rounded size cannot be had. */
    for (size_t i = 0; i < ARRAY_LEN(too_big); i++) {
        errno = 0;
        ck_assert_msg(pvalloc(too_big[i]) == NULL, "pvalloc(%zu) succeeded", too_big[i]);
        ck_assert_msg(errno == ENOMEM, "pvalloc(%zu): errno %d", too_big[i], errno);
    }
}
END_TEST
#endif

/* ---- usable size, free, errno ---- */

START_TEST(null_pointer_is_harmless)
{
    const struct api *A = &apis[_i];
    ck_assert_uint_eq(A->usable(NULL), 0);
    errno = EILSEQ;
    A->free(NULL);
    ck_assert_int_eq(errno, EILSEQ);
}
END_TEST

/* glibc >= 2.33 preserves errno across free, including when free gives
 * memory back to the kernel; callers (and POSIX 2024) rely on it. */
START_TEST(free_preserves_errno)
{
    const struct api *A = &apis[_i];
    static const size_t sizes[] = {1, 100, SMALL_MAX, 100000, 3 * MiB, 20 * MiB, 100 * MiB};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        void *p = A->malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        errno = EILSEQ;
        A->free(p);
        ck_assert_msg(errno == EILSEQ, "%s: free of %zu bytes set errno %d", A->name, sizes[i],
                      errno);
    }
    /* Enough blocks of several classes that freeing them spills caches
     * and empties slabs; hak_trim then gives the memory back. */
    const size_t N = scaled(20000);
    void **v = A->malloc(N * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < N; i++) {
        v[i] = A->malloc(16 + (i % 5) * 200);
        ck_assert_ptr_nonnull(v[i]);
    }
    for (size_t i = 0; i < N; i++) {
        errno = EILSEQ;
        A->free(v[i]);
        ck_assert_msg(errno == EILSEQ, "%s: free #%zu set errno %d", A->name, i, errno);
    }
    hak_trim();
    for (size_t i = 0; i < N; i++) {
        v[i] = A->malloc(16 + (i % 5) * 200);
        ck_assert_ptr_nonnull(v[i]);
    }
    for (size_t i = 0; i < N; i++) {
        errno = EILSEQ;
        A->free(v[i]);
        ck_assert_msg(errno == EILSEQ, "%s: free #%zu after trim set errno %d", A->name, i, errno);
    }
    A->free(v);
    void *q;
    ck_assert_int_eq(A->posix_memalign(&q, 2 * MiB, 100), 0);
    errno = EILSEQ;
    A->free(q);
    ck_assert_int_eq(errno, EILSEQ);
}
END_TEST

/* ---- version, plan, statistics ---- */

START_TEST(version_is_major_minor_patch)
{
    const char *v = hak_version();
    ck_assert_ptr_nonnull(v);
    unsigned major, minor, patch;
    int end = -1;
    ck_assert_msg(sscanf(v, "%u.%u.%u%n", &major, &minor, &patch, &end) == 3 &&
                      end == (int)strlen(v) && v[0] >= '0' && v[0] <= '9',
                  "hak_version() = \"%s\"", v);
}
END_TEST

START_TEST(tier_plan_ends_with_superslab)
{
    const char *plan = hak_tier_plan();
    ck_assert_ptr_nonnull(plan);
    size_t n = strlen(plan), k = strlen("superslab");
    ck_assert_msg(n >= k && strcmp(plan + n - k, "superslab") == 0 &&
                      (n == k || plan[n - k - 1] == ','),
                  "hak_tier_plan() = \"%s\"", plan);
    ck_assert_msg(strstr(plan, ",,") == NULL && plan[0] != ',', "hak_tier_plan() = \"%s\"", plan);
}
END_TEST

START_TEST(stats_get_checks_size_and_counts_large_blocks)
{
    struct hak_stats st, before, after;
    ck_assert_int_eq(hak_stats_get(&st, sizeof st), 0);
    ck_assert_int_eq(hak_stats_get(&st, sizeof st - 1), -1);
    ck_assert_int_eq(hak_stats_get(&st, 0), -1);

    ck_assert_int_eq(hak_stats_get(&before, sizeof before), 0);
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = hak_malloc(MiB);
        ck_assert_ptr_nonnull(p[i]);
    }
    ck_assert_int_eq(hak_stats_get(&after, sizeof after), 0);
    ck_assert_uint_eq(after.live_large_blocks, before.live_large_blocks + 3);
    ck_assert_uint_ge(after.mapped_bytes, 3 * MiB);
    for (int i = 0; i < 3; i++)
        hak_free(p[i]);
    ck_assert_int_eq(hak_stats_get(&after, sizeof after), 0);
    ck_assert_uint_eq(after.live_large_blocks, before.live_large_blocks);
    /* Trimming gives every cached span back. */
    hak_trim();
    ck_assert_int_eq(hak_stats_get(&after, sizeof after), 0);
    ck_assert_uint_eq(after.large_cached_spans, 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    hak_stats_print(f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_msg(strstr(text, hak_version()) != NULL && strstr(text, hak_tier_plan()) != NULL,
                  "hak_stats_print() names neither version nor plan:\n%s", text);
    free(text);
}
END_TEST

/* ---- fork ---- */

static const size_t fork_sizes[] = {16, 100, 1000, SMALL_MAX, 100000, 3 * MiB};

/* The work a child does: malloc/free many blocks of several sizes.
 * Returns false if a block came back NULL or corrupted. */
static bool churn(unsigned rounds)
{
    enum { LIVE = 64 };
    void *live[LIVE] = {0};
    size_t live_size[LIVE] = {0};
    for (unsigned r = 0; r < rounds; r++) {
        unsigned slot = r % LIVE;
        if (live[slot] != NULL) {
            if (!has_pattern(live[slot], live_size[slot] < 256 ? live_size[slot] : 256, slot))
                return false;
            hak_free(live[slot]);
        }
        size_t s = fork_sizes[(r * 7 + r / LIVE) % ARRAY_LEN(fork_sizes)] + r % 13;
        live[slot] = hak_malloc(s);
        if (live[slot] == NULL)
            return false;
        live_size[slot] = s;
        fill(live[slot], s < 256 ? s : 256, slot);
    }
    for (unsigned i = 0; i < LIVE; i++)
        hak_free(live[i]);
    return true;
}

/* Waits for pid at most timeout_s; kills it on timeout (a deadlocked
 * child) and returns -1 then, else the wait status. */
static int wait_child(pid_t pid, int timeout_s)
{
    for (int ms = 0; ms < timeout_s * 1000; ms += 10) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        ck_assert_int_eq(r, 0);
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void assert_child_ok(int status, const char *what)
{
    ck_assert_msg(status != -1, "%s: child did not finish (deadlock?)", what);
    ck_assert_msg(!WIFSIGNALED(status), "%s: child killed by signal %d", what, WTERMSIG(status));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child exit status %d", what,
                  WEXITSTATUS(status));
}

START_TEST(fork_child_allocates_parent_continues)
{
    enum { PER = 20, N = PER * ARRAY_LEN(fork_sizes) };
    void *blocks[N];
    for (size_t i = 0; i < N; i++) {
        blocks[i] = hak_malloc(fork_sizes[i % ARRAY_LEN(fork_sizes)]);
        ck_assert_ptr_nonnull(blocks[i]);
        fill(blocks[i], fork_sizes[i % ARRAY_LEN(fork_sizes)], (unsigned)i);
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        bool ok = true;
        /* The child owns copies of the parent's blocks: it may read and
         * free them. */
        for (size_t i = 0; i < N; i++) {
            ok &= has_pattern(blocks[i], fork_sizes[i % ARRAY_LEN(fork_sizes)], (unsigned)i);
            if (i % 2 == 0)
                hak_free(blocks[i]);
        }
        ok &= churn(scaled(100000));
        _exit(ok ? 0 : 1);
    }
    assert_child_ok(wait_child(pid, 30), "fork");
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(has_pattern(blocks[i], fork_sizes[i % ARRAY_LEN(fork_sizes)], (unsigned)i),
                      "parent block #%zu changed across fork", i);
    ck_assert(churn(scaled(20000)));
    for (size_t i = 0; i < N; i++)
        hak_free(blocks[i]);
}
END_TEST

static atomic_bool stop_churn;

static void *churn_until_stopped(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_churn))
        if (!churn(scaled(2000)))
            return (void *)1;
    return NULL;
}

/* Other threads are inside malloc/free (holding whatever locks they take)
 * when the process forks: the child must still be able to allocate. */
START_TEST(fork_while_other_threads_allocate)
{
    enum { THREADS = 2, FORKS = 30 };
    pthread_t th[THREADS];
    atomic_store(&stop_churn, false);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, churn_until_stopped, NULL), 0);
    for (unsigned f = 0; f < scaled(FORKS); f++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            /* The child has the blocks the threads were using but not the
             * threads: under memcheck, leaks of the fork's making. */
            VALGRIND_CLO_CHANGE("--leak-check=no");
            _exit(churn(scaled(5000)) ? 0 : 1);
        }
        assert_child_ok(wait_child(pid, 20), "fork with allocating threads");
    }
    atomic_store(&stop_churn, true);
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        ck_assert_int_eq(pthread_join(th[i], &ret), 0);
        ck_assert_msg(ret == NULL, "a churning thread saw a corrupted block");
    }
}
END_TEST

/* ---- threads ---- */

static const size_t thread_sizes[] = {16, 24, 100, 1000, 4000, SMALL_MAX, 40000, 300000};

struct batch {
    const struct api *A;
    size_t n;
    void **blocks;
};

static size_t batch_size(size_t i) { return thread_sizes[i % ARRAY_LEN(thread_sizes)] + i % 7; }

static void *produce(void *arg)
{
    struct batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        b->blocks[i] = b->A->malloc(batch_size(i));
        if (b->blocks[i] == NULL)
            return (void *)1;
        fill(b->blocks[i], batch_size(i) < 512 ? batch_size(i) : 512, (unsigned)i);
    }
    return NULL;
}

/* Frees a batch made by another thread; returns non-NULL if a block was
 * corrupted or free touched errno. */
static void *consume(void *arg)
{
    struct batch *b = arg;
    void *bad = NULL;
    for (size_t i = 0; i < b->n; i++) {
        if (!has_pattern(b->blocks[i], batch_size(i) < 512 ? batch_size(i) : 512, (unsigned)i))
            bad = (void *)1;
        errno = EILSEQ;
        b->A->free(b->blocks[i]);
        if (errno != EILSEQ)
            bad = (void *)2;
    }
    return bad;
}

/* Each round a fresh thread allocates and exits (its slabs are then
 * abandoned); the blocks are freed by the main thread or by another fresh
 * thread, and the next producer adopts what the last one left. */
START_TEST(blocks_freed_by_another_thread)
{
    enum { ROUNDS = 40, N = 3000 };
    void *blocks[N];
    struct batch b = {&apis[_i], N, blocks};
    for (unsigned r = 0; r < scaled(ROUNDS); r++) {
        pthread_t th;
        void *ret;
        ck_assert_int_eq(pthread_create(&th, NULL, produce, &b), 0);
        ck_assert_int_eq(pthread_join(th, &ret), 0);
        ck_assert_msg(ret == NULL, "%s: round %u: allocation failed", b.A->name, r);
        if (r % 2 == 0) {
            ret = consume(&b);
        } else {
            ck_assert_int_eq(pthread_create(&th, NULL, consume, &b), 0);
            ck_assert_int_eq(pthread_join(th, &ret), 0);
        }
        ck_assert_msg(ret == NULL, "%s: round %u: remote free saw corruption (%p)", b.A->name, r,
                      ret);
    }
}
END_TEST

/* A producer and a consumer run at the same time, so frees land on slabs
 * whose owner is alive and allocating. */
struct handoff {
    const struct api *A;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *ring[256];
    size_t ring_size[256];
    size_t head, tail;
    bool bad;
};

enum { PIPE_ITEMS = 200000 };

static void *pipe_producer(void *arg)
{
    struct handoff *q = arg;
    for (size_t i = 0; i < scaled(PIPE_ITEMS); i++) {
        size_t s = batch_size(i * 3);
        void *p = q->A->malloc(s);
        if (p == NULL)
            return (void *)1;
        fill(p, s < 64 ? s : 64, (unsigned)s);
        pthread_mutex_lock(&q->lock);
        while (q->head - q->tail == ARRAY_LEN(q->ring))
            pthread_cond_wait(&q->cond, &q->lock);
        q->ring[q->head % ARRAY_LEN(q->ring)] = p;
        q->ring_size[q->head % ARRAY_LEN(q->ring)] = s;
        /* Only a consumer facing an empty ring waits. */
        if (++q->head - q->tail == 1)
            pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
    }
    return NULL;
}

static void *pipe_consumer(void *arg)
{
    struct handoff *q = arg;
    for (size_t i = 0; i < scaled(PIPE_ITEMS); i++) {
        pthread_mutex_lock(&q->lock);
        while (q->head == q->tail)
            pthread_cond_wait(&q->cond, &q->lock);
        void *p = q->ring[q->tail % ARRAY_LEN(q->ring)];
        size_t s = q->ring_size[q->tail % ARRAY_LEN(q->ring)];
        /* Only a producer facing a full ring waits. */
        if (q->head - q->tail++ == ARRAY_LEN(q->ring))
            pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
        if (!has_pattern(p, s < 64 ? s : 64, (unsigned)s))
            q->bad = true;
        q->A->free(p);
        /* The consumer allocates too, from its own slabs. */
        void *own = q->A->malloc(s);
        if (own == NULL)
            return (void *)1;
        q->A->free(own);
    }
    return NULL;
}

START_TEST(concurrent_producer_consumer)
{
    struct handoff q = {.A = &apis[_i]};
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.cond, NULL);
    pthread_t prod, cons;
    void *rp, *rc;
    ck_assert_int_eq(pthread_create(&prod, NULL, pipe_producer, &q), 0);
    ck_assert_int_eq(pthread_create(&cons, NULL, pipe_consumer, &q), 0);
    ck_assert_int_eq(pthread_join(prod, &rp), 0);
    ck_assert_int_eq(pthread_join(cons, &rc), 0);
    ck_assert_msg(rp == NULL && rc == NULL, "%s: allocation failed in the pipeline", q.A->name);
    ck_assert_msg(!q.bad, "%s: a block changed between producer and consumer", q.A->name);
    pthread_cond_destroy(&q.cond);
    pthread_mutex_destroy(&q.lock);
}
END_TEST

/* ---- the suite ---- */

static TCase *tcase(Suite *s, const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *suite(void)
{
    /* Both APIs reach the same tiers: a quick build tests the first. */
    const int napis = hak_test_quick() ? 1 : (int)ARRAY_LEN(apis);
    Suite *s = suite_create("api");

    TCase *tc = tcase(s, "sizes", 60);
    tcase_add_loop_test(tc, zero_size_gives_unique_pointers, 0, napis);
    tcase_add_loop_test(tc, sizes_aligned_usable_writable, 0, napis);
    tcase_add_loop_test(tc, too_big_fails_with_enomem, 0, napis);

    tc = tcase(s, "calloc", 30);
    tcase_add_loop_test(tc, calloc_zeroes_recycled_blocks, 0, napis);
    tcase_add_loop_test(tc, calloc_zeroes_recycled_aligned_spans, 0, napis);
    tcase_add_loop_test(tc, calloc_overflow_fails_with_enomem, 0, napis);

    tc = tcase(s, "realloc", 30);
    tcase_add_loop_test(tc, reallocarray_overflow_keeps_block, 0, napis);
    tcase_add_loop_test(tc, realloc_null_is_malloc, 0, napis);
    tcase_add_loop_test(tc, realloc_preserves_contents, 0, napis);
    tcase_add_loop_test(tc, realloc_chain_preserves_contents, 0, napis);
    tcase_add_loop_test(tc, realloc_zero_frees, 0, napis);
    tcase_add_loop_test(tc, realloc_failure_keeps_block, 0, napis);

    tc = tcase(s, "aligned", 30);
    tcase_add_loop_test(tc, posix_memalign_rejects_bad_alignment, 0, napis);
    tcase_add_loop_test(tc, posix_memalign_power_of_two_alignments, 0, napis);
    tcase_add_loop_test(tc, aligned_alloc_power_of_two_alignments, 0, napis);
    tcase_add_loop_test(tc, aligned_alloc_rejects_non_power_of_two, 0, napis);
    tcase_add_loop_test(tc, huge_power_of_two_alignment_fails_with_enomem, 0, napis);
#if HAK_OVERRIDE
    tcase_add_test(tc, memalign_rounds_alignment_up);
    tcase_add_test(tc, memalign_huge_alignment_fails);
    tcase_add_test(tc, valloc_is_page_aligned);
    tcase_add_test(tc, pvalloc_rounds_size_to_pages);
#endif

    tc = tcase(s, "free", 30);
    tcase_add_loop_test(tc, null_pointer_is_harmless, 0, napis);
    tcase_add_loop_test(tc, free_preserves_errno, 0, napis);

    tc = tcase(s, "info", 10);
    tcase_add_test(tc, version_is_major_minor_patch);
    tcase_add_test(tc, tier_plan_ends_with_superslab);
    tcase_add_test(tc, stats_get_checks_size_and_counts_large_blocks);

    tc = tcase(s, "fork", 60);
    tcase_add_test(tc, fork_child_allocates_parent_continues);
    tcase_add_test(tc, fork_while_other_threads_allocate);

    tc = tcase(s, "threads", 60);
    tcase_add_loop_test(tc, blocks_freed_by_another_thread, 0, napis);
    tcase_add_loop_test(tc, concurrent_producer_consumer, 0, napis);
    return s;
}

#include "check_main.h"
