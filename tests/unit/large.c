/* hakmem tests: the large backend (src/backends/large.c), through the
 * public API and the chunk map.
 *
 * This binary's malloc is hakmem, and it also defines mmap, munmap and
 * madvise: the backend's calls bind to these at link time, so a test can
 * count the system calls a loop makes without strace. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <check.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "internal.h"
#include "backend.h"
#include "hak_alloc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static _Atomic unsigned long vm_calls;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    atomic_fetch_add(&vm_calls, 1);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
    atomic_fetch_add(&vm_calls, 1);
    return (int)syscall(SYS_munmap, addr, len);
}

int madvise(void *addr, size_t len, int advice)
{
    atomic_fetch_add(&vm_calls, 1);
    return (int)syscall(SYS_madvise, addr, len, advice);
}

static struct hak_stats stats(void)
{
    struct hak_stats st;
    ck_assert_int_eq(hak_stats_get(&st, sizeof st), 0);
    return st;
}

/* Takes an address, not a pointer: it is asked about freed blocks too. */
static unsigned chunk_kind(uintptr_t a)
{
    return (unsigned)(_hak_map_lookup((const void *)a) & HAK_CHUNK_KIND_MASK);
}

/* Every chunk a live large block touches maps back to one span entry. */
static void check_span_mapped(const char *p, size_t size)
{
    uintptr_t e = _hak_map_lookup(p);
    ck_assert_msg((e & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_LARGE,
                  "%zu-byte block %p: chunk map entry %#lx is not LARGE", size, (void *)p,
                  (unsigned long)e);
    for (size_t off = HAK_SS_SIZE; off < size; off += HAK_SS_SIZE)
        ck_assert_msg(_hak_map_lookup(p + off) == e, "%zu-byte block %p: chunk at +%zu not mapped",
                      size, (void *)p, off);
    ck_assert_msg(_hak_map_lookup(p + size - 1) == e,
                  "%zu-byte block %p: chunk of the last byte not mapped", size, (void *)p);
}

/* A live block of at least size bytes, aligned to align, writable at both
 * ends. */
static void check_block(char *p, size_t size, size_t align)
{
    ck_assert_msg(p != NULL, "allocating %zu bytes (align %zu) failed: %s", size, align,
                  strerror(errno));
    ck_assert_msg(((uintptr_t)p & (align - 1)) == 0, "%zu-byte block %p not aligned to %zu", size,
                  (void *)p, align);
    size_t usable = malloc_usable_size(p);
    ck_assert_msg(usable >= size, "%zu-byte block %p: usable size %zu", size, (void *)p, usable);
    ck_assert_uint_eq(hak_usable_size(p), usable);
    p[0] = 1;
    p[size - 1] = 2;
    p[usable - 1] = 3;
}

static const size_t large_sizes[] = {
    HAK_SMALL_MAX + 1, 64 * KiB,    100 * KiB, 1 * MiB,  2 * MiB - 1,
    2 * MiB,           2 * MiB + 1, 5 * MiB,   64 * MiB, 256 * MiB,
};

/* large.c caches spans of at most HAK_LARGE_CACHE_SPAN_MAX, so spans
 * this big are unmapped by free itself. */
#define UNCACHEABLE (2 * HAK_LARGE_CACHE_SPAN_MAX)

START_TEST(test_large_block)
{
    size_t size = large_sizes[_i];
    struct hak_stats before = stats();
    char *p = malloc(size);
    check_block(p, size, HAK_ALIGN);
    check_span_mapped(p, size);
    ck_assert_uint_eq(stats().live_large_blocks, before.live_large_blocks + 1);
    uintptr_t first = (uintptr_t)p, last = first + size - 1;

    free(p);
    struct hak_stats after = stats();
    ck_assert_uint_eq(after.live_large_blocks, before.live_large_blocks);
    if (size >= UNCACHEABLE) {
        ck_assert_uint_eq(chunk_kind(first), HAK_CHUNK_FOREIGN);
        ck_assert_uint_eq(chunk_kind(last), HAK_CHUNK_FOREIGN);
        ck_assert_uint_eq(after.mapped_bytes, before.mapped_bytes);
    }

    hak_trim();
    ck_assert_uint_eq(chunk_kind(first), HAK_CHUNK_FOREIGN);
    ck_assert_uint_eq(chunk_kind(last), HAK_CHUNK_FOREIGN);
    ck_assert_uint_eq(stats().large_cached_spans, 0);
}
END_TEST

/* Small sizes too: an alignment above HAK_SMALL_MAX is beyond any slab, so
 * even a 1-byte request becomes a large span. */
static const size_t aligned_sizes[] = {1, HAK_SMALL_MAX + 1, 1 * MiB + 1, 3 * MiB};

static void check_aligned(char *p, size_t align, size_t size)
{
    check_block(p, size, align);
    if (size > HAK_SMALL_MAX || align > HAK_SMALL_MAX)
        check_span_mapped(p, size);
}

START_TEST(test_aligned)
{
    size_t live = stats().live_large_blocks;
    size_t n = sizeof aligned_sizes / sizeof aligned_sizes[0];
    for (size_t align = 4 * KiB; align <= 16 * MiB; align <<= 1) {
        for (size_t i = 0; i < n; i++) {
            size_t size = aligned_sizes[i];
            char *p = hak_aligned_alloc(align, size);
            check_aligned(p, align, size);
            void *q = NULL;
            ck_assert_int_eq(posix_memalign(&q, align, size), 0);
            check_aligned(q, align, size);
            ck_assert_ptr_ne(p, q);
            free(p);
            free(q);
        }
    }
    ck_assert_uint_eq(stats().live_large_blocks, live);
}
END_TEST

#define REUSE_SIZE (100 * KiB)
#define REUSE_LOOPS 1000

START_TEST(test_span_reuse)
{
    /* Nothing older for the purger to give back while the loop runs (under
     * memcheck it outlasts the decay): every call counted is the loop's. */
    hak_trim();
    /* The first round maps the span; every later one must find it cached. */
    char *first = malloc(REUSE_SIZE);
    ck_assert_ptr_nonnull(first);
    free(first);
    struct hak_stats before = stats();
    unsigned long calls = atomic_load(&vm_calls);
    for (int i = 0; i < REUSE_LOOPS; i++) {
        char *p = malloc(REUSE_SIZE);
        ck_assert_msg(p == first, "round %d: got %p, not the cached span %p", i, (void *)p,
                      (void *)first);
        memset(p, i, REUSE_SIZE);
        free(p);
    }
    ck_assert_msg(atomic_load(&vm_calls) == calls, "%lu mmap/munmap/madvise calls in %d rounds",
                  atomic_load(&vm_calls) - calls, REUSE_LOOPS);
    struct hak_stats after = stats();
    ck_assert_uint_eq(after.mapped_bytes, before.mapped_bytes);
    ck_assert_uint_eq(after.large_cached_spans, before.large_cached_spans);
}
END_TEST

static size_t large_mapped(void)
{
    uint64_t out, in;
    size_t cached, mapped;
    _hak_large_stats(&out, &in, &cached, &mapped);
    return mapped;
}

/* What a span of a block of size bytes maps: the header's page too. */
static size_t span_bytes(size_t size)
{
    return (64 + size + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
}

/* How many of the pages [p, p + size) touches are resident, and how many
 * it touches. */
static size_t resident_pages(const char *p, size_t size, size_t *pages)
{
    uintptr_t lo = (uintptr_t)p & ~(HAK_PAGE_SIZE - 1);
    *pages = ((uintptr_t)p + size - lo + HAK_PAGE_SIZE - 1) / HAK_PAGE_SIZE;
    unsigned char *vec = malloc(*pages);
    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore((void *)lo, *pages * HAK_PAGE_SIZE, vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < *pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

/* Whether every page of [p, p + size) is resident. */
static bool resident(const char *p, size_t size)
{
    size_t pages;
    return resident_pages(p, size, &pages) == pages;
}

/* Whether no page of [p, p + size) is resident. */
static bool none_resident(const char *p, size_t size)
{
    size_t pages;
    return resident_pages(p, size, &pages) == 0;
}

/* One past the last byte mapped for the span of block p of size bytes
 * (aligned to at most 64): its header sits a colour past the chunk's
 * base, and the span ends at the first page boundary after the block. */
static char *span_end(const char *p, size_t size)
{
    uintptr_t base = (uintptr_t)p & ~(HAK_SS_SIZE - 1);
    return (char *)(base + span_bytes((uintptr_t)p - base - 64 + size));
}

/* The index of the first of p's n bytes that is not c; n if none. */
static size_t first_not(const char *p, size_t n, char c)
{
    size_t i = 0;
    while (i < n && p[i] == c)
        i++;
    return i;
}

/* memset that the compiler cannot drop when p is freed next. */
static void touch(char *p, int c, size_t size)
{
    memset(p, c, size);
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* A span of size bytes, written whole, freed into an emptied cache;
 * returns where its block was, and sets *base to the large bytes mapped
 * before it. */
static char *cached_span(size_t size, size_t *base)
{
    hak_trim();
    *base = large_mapped();
    char *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    touch(p, 1, size);
    free(p);
    return p;
}

/* A freed span serves a larger request, grown: never mapped afresh, the
 * pages it had stay resident. A request of less than a fifth of a cached
 * span gets a span of its own, and the large one waits, whole, for a
 * request of its size. */
START_TEST(test_span_resized_for_reuse)
{
    if (HAK_BACKEND->resize == NULL)
        return;
    size_t base;
    char *p = cached_span(4 * MiB, &base);

    char *q = malloc(6 * MiB);
    ck_assert_ptr_nonnull(q);
    ck_assert_msg(large_mapped() == base + span_bytes(6 * MiB),
                  "after 4 MiB freed and 6 MiB asked: %zu bytes mapped, want %zu",
                  large_mapped() - base, span_bytes(6 * MiB));
    ck_assert_msg(resident(q, 4 * MiB), "the 4 MiB the span had are not resident");
    ck_assert_uint_eq(stats().large_cached_spans, 0);
    touch(q, 2, 6 * MiB);
    free(q);

    char *r = malloc(1 * MiB);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_ne(r, q);
    ck_assert_uint_eq(stats().large_cached_spans, 1);
    ck_assert_msg(large_mapped() == base + span_bytes(6 * MiB) + span_bytes(1 * MiB),
                  "after 6 MiB freed and 1 MiB asked: %zu bytes mapped, want %zu",
                  large_mapped() - base, span_bytes(6 * MiB) + span_bytes(1 * MiB));
    char *s2 = malloc(6 * MiB);
    ck_assert_ptr_eq(s2, q);
    ck_assert(resident(s2, 6 * MiB));
    check_span_mapped(s2, 6 * MiB);
    free(r);
    free(s2);
}
END_TEST

/* A cached span up to five times the size asked serves it whole, and
 * one under half the size asked is left in the cache, not grown: the
 * cache keeps spans of many sizes, so a program that allocates blocks of
 * varying size reuses pages it has, where each trim and each grow faulted
 * pages in anew (50x slower, random sizes of 64 KiB to 4 MiB). */
START_TEST(test_span_reused_whole)
{
    if (HAK_BACKEND->resize == NULL || HAK_TRACK_ON)
        return;
    size_t base;
    char *p = cached_span(4 * MiB, &base);

    char *q = malloc(1 * MiB);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_ge(malloc_usable_size(q), 4 * MiB);
    ck_assert_msg(large_mapped() == base + span_bytes(4 * MiB),
                  "after 4 MiB freed and 1 MiB asked: %zu bytes mapped, want %zu",
                  large_mapped() - base, span_bytes(4 * MiB));
    ck_assert(resident(q, 4 * MiB));
    free(q);

    char *r = malloc(12 * MiB);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_ne(r, p);
    ck_assert_uint_eq(stats().large_cached_spans, 1);
    ck_assert_msg(large_mapped() == base + span_bytes(4 * MiB) + span_bytes(12 * MiB),
                  "after 4 MiB cached and 12 MiB asked: %zu bytes mapped", large_mapped() - base);
    free(r);
}
END_TEST

/* calloc of a block much smaller than the cached span it takes keeps
 * only what the block needs: the span's pages past the first chunk
 * boundary after the block go back to the cache as a span of their own,
 * resident, for the next block of their size; the rest is trimmed. */
START_TEST(test_calloc_splits_span)
{
    if (HAK_BACKEND->resize == NULL || HAK_TRACK_ON)
        return;
    size_t base;
    char *p = cached_span(8 * MiB, &base);

    char *q = calloc(1, 2 * MiB);
    ck_assert_ptr_eq(q, p);
    size_t usable = malloc_usable_size(q);
    ck_assert_msg(usable >= 2 * MiB && usable < 2 * MiB + HAK_PAGE_SIZE,
                  "2 MiB from an 8 MiB span: usable %zu", usable);
    ck_assert_uint_eq(first_not(q, usable, 0), usable);
    ck_assert_uint_eq(stats().large_cached_spans, 1);
    ck_assert_msg(large_mapped() == base + span_bytes(2 * MiB) + 4 * MiB + HAK_PAGE_SIZE,
                  "after 8 MiB freed and 2 MiB callocated: %zu bytes mapped",
                  large_mapped() - base);

    /* The rest, from the chunk at 4 MiB on: its header at the chunk's
     * start, its pages those p touched, with what p wrote. */
    char *chunk = (char *)((uintptr_t)p & ~(uintptr_t)(2 * MiB - 1));
    char *r = malloc(4 * MiB);
    ck_assert_ptr_eq(r, chunk + 4 * MiB + 64);
    ck_assert_uint_eq(stats().large_cached_spans, 0);
    ck_assert(large_mapped() == base + span_bytes(2 * MiB) + 4 * MiB + HAK_PAGE_SIZE);
    ck_assert(resident(r, 4 * MiB));
    ck_assert_uint_eq(first_not(r, 4 * MiB - 64, 1), 4 * MiB - 64);
    free(r);
    free(q);
}
END_TEST

/* Threads that calloc blocks of 1 to 9 MiB and free them in another
 * order split each other's cached spans and take their tails: every
 * block must read as zero where calloc left it, and keep what its thread
 * wrote until its free (a tail that overlapped a live block would show
 * on either side). */
enum { SPLIT_THREADS = 4, SPLIT_ROUNDS = 150, SPLIT_LIVE = 3 };

struct split_block {
    uint64_t *p;
    size_t size, tag;
};

/* Failures only are reported: each passing ck_assert writes a line to
 * check's log, under a lock the threads would queue on. */
static void split_check(const struct split_block *b)
{
    for (size_t off = 0; off < b->size / 8; off += HAK_PAGE_SIZE / 8)
        if (b->p[off] != (b->tag ^ off))
            ck_abort_msg("block %p of %zu bytes: word %zu overwritten", (void *)b->p, b->size,
                         off);
}

static void *split_main(void *arg)
{
    uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    struct split_block live[SPLIT_LIVE] = {{0}};
    for (unsigned r = 0; r < SPLIT_ROUNDS; r++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        struct split_block *b = &live[(rng >> 33) % SPLIT_LIVE];
        if (b->p != NULL) {
            split_check(b);
            free(b->p);
        }
        b->size = 1 * MiB + (size_t)(rng >> 40) % (8 * MiB);
        b->tag = rng | 1;
        b->p = calloc(1, b->size);
        if (b->p == NULL || malloc_usable_size(b->p) < b->size)
            ck_abort_msg("calloc(%zu) = %p", b->size, (void *)b->p);
        const unsigned char *c = (const unsigned char *)b->p;
        for (size_t i = 0; i < b->size; i += 512)
            if (c[i] != 0)
                ck_abort_msg("calloc(%zu) = %p: byte %zu is %d", b->size, (void *)b->p, i, c[i]);
        if (c[b->size - 1] != 0)
            ck_abort_msg("calloc(%zu) = %p: its last byte is %d", b->size, (void *)b->p,
                         c[b->size - 1]);
        for (size_t off = 0; off < b->size / 8; off += HAK_PAGE_SIZE / 8)
            b->p[off] = b->tag ^ off;
    }
    for (unsigned i = 0; i < SPLIT_LIVE; i++)
        if (live[i].p != NULL) {
            split_check(&live[i]);
            free(live[i].p);
        }
    return NULL;
}

START_TEST(test_calloc_split_threads)
{
    if (HAK_TRACK_ON)
        return;
    pthread_t th[SPLIT_THREADS];
    for (uintptr_t i = 0; i < SPLIT_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, split_main, (void *)i), 0);
    for (unsigned i = 0; i < SPLIT_THREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_uint_eq(stats().live_large_blocks, 0);
}
END_TEST

/* realloc of a large block to a large size moves no byte: at no time are
 * two spans mapped, and the block's pages stay resident. */
START_TEST(test_realloc_without_copy)
{
    if (HAK_BACKEND->resize == NULL || HAK_TRACK_ON)
        return;
    hak_trim();
    size_t base = large_mapped();
    char *p = malloc(3 * MiB);
    ck_assert_ptr_nonnull(p);
    memset(p, 7, 3 * MiB);
    static const size_t steps[] = {8 * MiB, 20 * MiB, 2 * MiB, 5 * MiB};
    size_t kept = 3 * MiB;                      /* the bytes that were never cut off */
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t to = steps[i];
        if (to < kept)
            kept = to;
        p = realloc(p, to);
        ck_assert_msg(p != NULL, "realloc to %zu failed", to);
        ck_assert_msg(large_mapped() == base + span_bytes(to),
                      "realloc to %zu: %zu bytes mapped, want %zu", to, large_mapped() - base,
                      span_bytes(to));
        ck_assert_uint_eq(stats().large_cached_spans, 0);
        ck_assert_msg(resident(p, kept), "realloc to %zu: the block's pages are not resident", to);
        size_t j = first_not(p, kept, 7);
        ck_assert_msg(j == kept, "realloc to %zu: byte %zu lost", to, j);
        check_span_mapped(p, to);
    }
    free(p);
}
END_TEST

/* realloc of a span the program split (madvise on one page gives that
 * page a mapping of its own) that cannot grow where it is: Linux moves
 * such a range since 6.16 and refuses before, when the block is copied
 * instead. Either way its bytes are kept and nothing of hakmem's or the
 * program's is lost on the way. */
START_TEST(test_realloc_split_span)
{
    if (HAK_BACKEND->resize == NULL || HAK_TRACK_ON)
        return;
    hak_trim();
    size_t size = 3 * MiB;
    char *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    memset(p, 5, size);
    char *mid = (char *)(((uintptr_t)p + MiB) & ~(HAK_PAGE_SIZE - 1));
    ck_assert_int_eq(madvise(mid, HAK_PAGE_SIZE, MADV_DONTDUMP), 0);
    /* Something of the program's right after the span. */
    char *end = span_end(p, size);
    char *wall = mmap(end, HAK_PAGE_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (wall != end) {
        if (wall != MAP_FAILED)
            munmap(wall, HAK_PAGE_SIZE);
        free(p);
        return;                         /* the address after the span is taken: nothing to test */
    }
    wall[0] = 42;
    size_t live = stats().live_large_blocks;
    char *q = realloc(p, 12 * MiB);
    ck_assert_ptr_nonnull(q);
    size_t i = first_not(q, size, 5);
    ck_assert_msg(i == size, "byte %zu of %zu lost", i, size);
    memset(q, 6, 12 * MiB);
    check_span_mapped(q, 12 * MiB);
    ck_assert_int_eq(wall[0], 42);
    ck_assert_uint_eq(stats().live_large_blocks, live);
    free(q);
    hak_trim();
    ck_assert_uint_eq(large_mapped(), 0);
    ck_assert_int_eq(wall[0], 42);
    munmap(wall, HAK_PAGE_SIZE);
}
END_TEST

/* A pattern in which every 8-byte word differs, so a copy from or to the
 * wrong offset shows. */
static uint64_t word_at(size_t i) { return (i + 1) * 0x9e3779b97f4a7c15ull; }

static void fill(char *p, size_t size)
{
    for (size_t i = 0; i < size / 8; i++) {
        uint64_t w = word_at(i);
        memcpy(p + 8 * i, &w, 8);
    }
}

/* The loops over every word or byte below call check only once: each
 * ck_assert records a checkpoint, a write to check's log. */
static size_t first_bad_word(const char *p, size_t size)
{
    for (size_t i = 0; i < size / 8; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        if (w != word_at(i))
            return i;
    }
    return SIZE_MAX;
}

START_TEST(test_realloc)
{
    /* Growing, growing in place, shrinking a little and a lot, into the
     * small classes and back out. Multiples of 8 keep fill() exact. */
    static const size_t steps[] = {
        100 * KiB, 100 * KiB + 1000, 1 * MiB, 5 * MiB, 3 * MiB, 200 * KiB,
        40 * KiB,  1000,             3 * MiB, 2 * MiB,
    };
    size_t n = sizeof steps / sizeof steps[0];
    size_t live = stats().live_large_blocks;
    char *p = malloc(steps[0]);
    ck_assert_ptr_nonnull(p);
    fill(p, steps[0]);
    for (size_t i = 1; i < n; i++) {
        size_t from = steps[i - 1], to = steps[i];
        p = realloc(p, to);
        ck_assert_msg(p != NULL, "realloc %zu -> %zu failed", from, to);
        size_t bad = first_bad_word(p, to < from ? to : from);
        ck_assert_msg(bad == SIZE_MAX, "realloc %zu -> %zu: word %zu lost", from, to, bad);
        ck_assert_uint_eq(chunk_kind((uintptr_t)p),
                          to > HAK_SMALL_MAX ? HAK_CHUNK_LARGE : HAK_CHUNK_SS);
        ck_assert_uint_ge(malloc_usable_size(p), to);
        fill(p, to);
    }
    free(p);
    ck_assert_uint_eq(stats().live_large_blocks, live);
}
END_TEST

/* A span reused from the cache still holds the old contents; calloc must
 * not hand them out. */
/* Hides where p came from, so the compiler lets a test free it wrongly
 * (or keeps the stores before a free). */
static char *launder(char *p)
{
    __asm__("" : "+r"(p));
    return p;
}

START_TEST(test_calloc_reused_span)
{
    size_t size = 1 * MiB;
    char *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    /* Laundered: with _FORTIFY_SOURCE, a memset past the size asked for
     * aborts, usable or not. */
    memset(launder(p), 0xff, malloc_usable_size(p));
    free(launder(p));
    char *q = calloc(1, size);
    ck_assert_msg(q == p, "calloc did not reuse the cached span (%p, freed %p)", (void *)q,
                  (void *)p);
    size_t usable = malloc_usable_size(q), i = first_not(q, usable, 0);
    ck_assert_msg(i == usable, "calloc: byte %zu of %zu is not zero", i, usable);
    free(q);
}
END_TEST

/* Whether this kernel populates a mapping on request (5.14 and later). */
static bool kernel_populates(void)
{
#ifdef MADV_POPULATE_WRITE
    void *m = mmap(NULL, HAK_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    bool ok = madvise(m, HAK_PAGE_SIZE, MADV_POPULATE_WRITE) == 0;
    munmap(m, HAK_PAGE_SIZE);
    return ok;
#else
    return false;
#endif
}

/* calloc of a fresh span of 1 MiB or more that the cache would keep
 * hands out its pages in memory, so a program that reads each before
 * writing it takes no second fault; a larger one, and a smaller one,
 * leave them to fault in, so a table used sparsely, or a buffer, costs
 * only what it touches. All read as zero. */
START_TEST(test_calloc_populates_fresh_span)
{
    if (HAK_TRACK_ON)
        return;
    hak_trim(); /* nothing cached: the spans are mapped afresh */
    size_t buffer = 256 * KiB, small = 4 * MiB, big = 48 * MiB;
    char *b = calloc(1, buffer);
    ck_assert_ptr_nonnull(b);
    size_t pages, in = resident_pages(b, buffer, &pages);
    ck_assert_msg(in < pages / 8, "%zu of the %zu pages of a fresh 256 KiB calloc in memory", in,
                  pages);
    ck_assert_uint_eq(first_not(b, buffer, 0), buffer);
    free(b);
    char *p = calloc(1, small);
    ck_assert_ptr_nonnull(p);
    in = resident_pages(p, small, &pages);
    if (kernel_populates())
        ck_assert_msg(in == pages, "%zu of the %zu pages of a fresh 4 MiB calloc in memory", in,
                      pages);
    ck_assert_uint_eq(first_not(p, small, 0), small);
    char *q = calloc(1, big);
    ck_assert_ptr_nonnull(q);
    in = resident_pages(q, big, &pages);
    ck_assert_msg(in < pages / 8, "%zu of the %zu pages of a fresh 48 MiB calloc in memory", in,
                  pages);
    ck_assert_uint_eq(first_not(q, HAK_PAGE_SIZE, 0), HAK_PAGE_SIZE);
    ck_assert_uint_eq(first_not(q + big - HAK_PAGE_SIZE, HAK_PAGE_SIZE, 0), HAK_PAGE_SIZE);
    free(q);
    free(p);
}
END_TEST

/* Live spans of a medium size do not all start their chunks: their headers
 * and the first lines of their blocks spread over cache lines and pages
 * (else all fell in one cache set and one TLB set), and the pages a
 * colour skips are never touched, so they cost no memory. */
START_TEST(test_spans_coloured)
{
    enum { N = 64 };
    size_t size = 64 * KiB;
    char *p[N];
    uint64_t lines = 0, pages = 0;
    for (int i = 0; i < N; i++) {
        p[i] = malloc(size);
        check_block(p[i], size, HAK_ALIGN);
        check_span_mapped(p[i], size);
        memset(p[i], 7, size);
        uintptr_t off = (uintptr_t)p[i] & (HAK_SS_SIZE - 1);
        lines |= (uint64_t)1 << (off / 64 % 64);
        pages |= (uint64_t)1 << (off / HAK_PAGE_SIZE % 64);
        char *base = p[i] - off;
        size_t skipped = (off - 64) & ~(HAK_PAGE_SIZE - 1);
        ck_assert_msg(skipped == 0 || none_resident(base, skipped),
                      "block %p: a page its colour skips is resident", (void *)p[i]);
    }
    ck_assert_msg(__builtin_popcountll(lines) >= 32, "%d cache lines of 64 used",
                  __builtin_popcountll(lines));
    ck_assert_msg(__builtin_popcountll(pages) >= 16, "%d pages of 32 used",
                  __builtin_popcountll(pages));
    for (int i = 0; i < N; i++)
        free(p[i]);
}
END_TEST

/* A block of size bytes whose offset in its chunk passes want, from at
 * most 64 tries (the colours of consecutive spans differ); the blocks
 * tried before it are freed. */
static char *block_where(size_t size, bool (*want)(uintptr_t offset))
{
    char *tried[64];
    int n = 0;
    char *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    while (!want((uintptr_t)p & (HAK_SS_SIZE - 1))) {
        ck_assert_int_lt(n, 64);
        tried[n++] = p;
        p = malloc(size);
        ck_assert_ptr_nonnull(p);
    }
    while (n > 0)
        free(tried[--n]);
    return p;
}

static bool header_off_page(uintptr_t offset) { return (offset - 64) % HAK_PAGE_SIZE != 0; }
static bool page_coloured(uintptr_t offset) { return offset >= HAK_PAGE_SIZE + 64; }

/* A kept span whose header is not on a page boundary serves a request
 * aligned to a page: the block starts at the span's first page boundary
 * past the header, and nothing is mapped. */
START_TEST(test_coloured_span_aligned)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON)
        return;
    size_t size = 200 * KiB;
    char *p = block_where(size, header_off_page);
    free(p);
    size_t mapped = large_mapped();
    void *q = NULL;
    ck_assert_int_eq(posix_memalign(&q, HAK_PAGE_SIZE, size - 2 * HAK_PAGE_SIZE), 0);
    check_block(q, size - 2 * HAK_PAGE_SIZE, HAK_PAGE_SIZE);
    ck_assert_msg((uintptr_t)q - (uintptr_t)p < HAK_PAGE_SIZE,
                  "the aligned block %p is not in the kept span of %p", q, (void *)p);
    ck_assert_uint_eq(large_mapped(), mapped);
    free(q);
}
END_TEST

/* A block of no bytes is still a block, inside its span. The span kept
 * here ends 1 MiB past its chunk-aligned base (its colour is a line or
 * a few), so the first address past its header aligned to 1 MiB is its
 * end: a request for no bytes so aligned must not be served from it. */
START_TEST(test_aligned_empty_block)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON)
        return;
    hak_trim();
    char *p = malloc(1 * MiB - 64 - 1024);
    ck_assert_ptr_nonnull(p);
    free(p);
    char *q = aligned_alloc(1 * MiB, 0);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq((uintptr_t)q & (1 * MiB - 1), 0);
    size_t usable;
    ck_assert_int_eq(_hak_large_check(q, _hak_map_lookup(q), &usable), HAK_LARGE_OURS);
    ck_assert_uint_ge(usable, 1);
    free(q);
}
END_TEST

/* Bad frees are reported on stderr and ignored; they must change nothing. */
/* One size a thread keeps, one it cannot. */
static const size_t bad_free_sizes[] = {200 * KiB, 1 * MiB};

START_TEST(test_bad_free)
{
    size_t size = bad_free_sizes[_i];
    /* Where the size has page colours (up to 512 KiB), a span with one:
     * the pages before its header are ours, and no block's. */
    char *p = size <= 512 * KiB ? block_where(size, page_coloured) : malloc(size);
    ck_assert_ptr_nonnull(p);
    size_t usable = malloc_usable_size(p);
    size_t live = stats().live_large_blocks;
    char *interior = launder(p + 16), *again = launder(p);

    free(interior);
    ck_assert_uint_eq(stats().live_large_blocks, live);
    ck_assert_uint_eq(malloc_usable_size(p), usable);
    /* The start of its chunk: a page before the header when the span has a
     * page colour, the header or a line before it when it has not. */
    free(launder((char *)((uintptr_t)p & ~(HAK_SS_SIZE - 1))));
    ck_assert_uint_eq(stats().live_large_blocks, live);
    ck_assert_uint_eq(malloc_usable_size(p), usable);

    free(p);
    size_t cached = stats().large_cached_spans;
    free(again);                                /* double free of a cached span */
    ck_assert_uint_eq(stats().large_cached_spans, cached);
    ck_assert_uint_eq(stats().live_large_blocks, live - 1);

    /* Had the span been cached twice, both would get it. */
    char *a = malloc(size), *b = malloc(size);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    free(a);
    free(b);
}
END_TEST

/* The span a thread keeps is its own next large block of that size, with
 * no call to the kernel, and it counts as cached, not live. */
START_TEST(test_kept_span_reused)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON)
        return;
    hak_trim();
    size_t size = 200 * KiB;
    char *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    struct hak_stats before = stats();
    free(p);
    struct hak_stats after = stats();
    ck_assert_uint_eq(after.live_large_blocks, before.live_large_blocks - 1);
    ck_assert_uint_eq(after.large_cached_spans, before.large_cached_spans + 1);
    ck_assert_uint_eq(chunk_kind((uintptr_t)p), HAK_CHUNK_LARGE);
    unsigned long calls = atomic_load(&vm_calls);
    char *q = malloc(size - 4 * KiB);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(atomic_load(&vm_calls), calls);
    ck_assert_uint_eq(stats().large_cached_spans, before.large_cached_spans);
    free(q);
    /* A trim gives back the span a thread keeps, as it does the cache's. */
    hak_trim();
    ck_assert_uint_eq(chunk_kind((uintptr_t)p), HAK_CHUNK_FOREIGN);
    ck_assert_uint_eq(stats().large_cached_spans, 0);
}
END_TEST

/* Frees p, after a large block of its own: a thread gets its state at its
 * first malloc, and only then keeps spans. */
static void *free_it(void *p)
{
    char *own = malloc(40 * KiB);
    ck_assert_ptr_nonnull(own);
    free(launder(own));
    free(p);
    return NULL;
}

/* A span freed by another thread is kept by that one; when it exits, the
 * span goes to the cache, where the allocating thread finds it again. */
START_TEST(test_kept_span_outlives_thread)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON)
        return;
    hak_trim();
    size_t size = 300 * KiB;
    char *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    struct hak_stats before = stats();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, free_it, p), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    struct hak_stats after = stats();
    ck_assert_uint_eq(after.live_large_blocks, before.live_large_blocks - 1);
    /* p and the thread's own block, both kept until it exited. */
    ck_assert_uint_eq(after.large_cached_spans, before.large_cached_spans + 2);
    unsigned long calls = atomic_load(&vm_calls);
    char *q = malloc(size);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(atomic_load(&vm_calls), calls);
    free(q);
}
END_TEST

/* With no call from the program, the purger moves a kept span to the
 * cache and unmaps it there after the decay. */
START_TEST(test_kept_span_decays)
{
    /* The decay is left as it is: the purger reads it as it runs. */
    if (_hak_opt.decay_ms == 0 || _hak_opt.decay_ms > 2000 || HAK_TRACK_ON)
        return;
    char *p = malloc(200 * KiB);
    ck_assert_ptr_nonnull(p);
    free(p);
    /* The purger wakes every half decay: the span goes to the cache at
     * one wake-up and is unmapped a decay later. */
    for (int i = 0; i < 1000 && chunk_kind((uintptr_t)p) != HAK_CHUNK_FOREIGN; i++)
        usleep(10000);
    ck_assert_uint_eq(chunk_kind((uintptr_t)p), HAK_CHUNK_FOREIGN);
    ck_assert_uint_eq(stats().large_cached_spans, 0);
}
END_TEST

/* Frees a block of each size given, then waits, idle, until told. */
struct idle_keeper {
    char *p[3];
    atomic_bool done;
};

static void *keep_then_idle(void *arg)
{
    struct idle_keeper *k = arg;
    for (int i = 0; i < 3; i++)
        free(k->p[i]);
    while (!atomic_load(&k->done))
        usleep(1000);
    return NULL;
}

/* The purger takes every span an idle thread keeps, with no call from
 * it, and unmaps them after the decay. */
START_TEST(test_idle_thread_keeps_decay)
{
    if (_hak_opt.decay_ms == 0 || _hak_opt.decay_ms > 2000 || HAK_TRACK_ON)
        return;
    static const size_t sizes[3] = {100 * KiB, 200 * KiB, 400 * KiB};
    struct idle_keeper k;
    atomic_init(&k.done, false);
    for (int i = 0; i < 3; i++) {
        k.p[i] = malloc(sizes[i]);
        ck_assert_ptr_nonnull(k.p[i]);
    }
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, keep_then_idle, &k), 0);
    int gone = 0;
    for (int n = 0; n < 1000 && gone < 3; n++) {
        usleep(10000);
        gone = 0;
        for (int i = 0; i < 3; i++)
            gone += chunk_kind((uintptr_t)k.p[i]) == HAK_CHUNK_FOREIGN;
    }
    atomic_store(&k.done, true);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(gone, 3);
}
END_TEST

/* Allocates p[0..3] (100 KiB each) and frees p[0..2], which it keeps
 * (step 1); when told (step 2), frees p[3] (step 3); then waits to be
 * told to end (step 4). A NULL in p[0] means a malloc failed. */
struct stepper {
    char *p[4];
    atomic_int step;
};

static void step_wait(atomic_int *step, int want)
{
    while (atomic_load(step) < want)
        usleep(1000);
}

static void *free_in_steps(void *arg)
{
    struct stepper *s = arg;
    for (int i = 0; i < 4; i++)
        s->p[i] = malloc(100 * KiB);
    for (int i = 0; i < 3; i++)
        free(s->p[i]);
    atomic_store(&s->step, 1);
    step_wait(&s->step, 2);
    free(s->p[3]);
    atomic_store(&s->step, 3);
    step_wait(&s->step, 4);
    return NULL;
}

/* Makes every membarrier(2) of the process fail with EPERM, as a
 * sandbox the program sets up after hakmem's start would; false if the
 * system cannot. */
static bool deny_membarrier(void)
{
#if defined(SYS_membarrier) && defined(SYS_seccomp) && defined(SECCOMP_FILTER_FLAG_TSYNC)
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof insns / sizeof insns[0], .filter = insns};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0;
#else
    return false;
#endif
}

enum { DENY_PASS, DENY_FAIL, DENY_SKIP };

/* In a child of its own, as the filter is for good. hakmem learns that
 * membarrier fails at its first heavy fence, after the thread kept its
 * spans (the child's purger, started by the thread's first free, sleeps
 * half a decay before its first): the trim leaves them where they are,
 * the thread puts them in the cache at its next free, and a trim then
 * unmaps every one of them. */
static int membarrier_denied_child(void)
{
    alarm(20);                  /* a step never reached fails the test, not hangs it */
    if (!deny_membarrier())
        return DENY_SKIP;
    struct stepper s = {0};
    atomic_init(&s.step, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, free_in_steps, &s) != 0)
        return DENY_FAIL;
    step_wait(&s.step, 1);
    if (s.p[0] == NULL || s.p[1] == NULL || s.p[2] == NULL || s.p[3] == NULL)
        return DENY_FAIL;
    hak_trim();
    bool bad = !atomic_load(&_hak_fence_failed);
    atomic_store(&s.step, 2);
    step_wait(&s.step, 3);
    hak_trim();
    for (int i = 0; i < 4; i++)
        bad |= chunk_kind((uintptr_t)s.p[i]) != HAK_CHUNK_FOREIGN;
    struct hak_stats st;
    bad |= hak_stats_get(&st, sizeof st) != 0 || st.large_cached_spans != 0;
    /* Large blocks still come and go, through the cache. */
    for (int i = 0; i < 100; i++) {
        char *p = malloc(64 * KiB + (size_t)i * KiB);
        if (p == NULL)
            return DENY_FAIL;
        memset(p, i, 64 * KiB);
        free(p);
    }
    atomic_store(&s.step, 4);
    pthread_join(th, NULL);
    return bad ? DENY_FAIL : DENY_PASS;
}

START_TEST(test_keeps_after_membarrier_fails)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON || !_hak_fence_asym)
        return;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(membarrier_denied_child());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_ne(WEXITSTATUS(status), DENY_FAIL);
}
END_TEST

/* Allocates and frees mid-sized blocks (the sizes a thread keeps) until
 * stopped, checking that no block changed while it held it. */
struct busy_keeper {
    unsigned seed;
    atomic_bool *stop;
    atomic_uint rounds;
    bool bad;
};

static void *keep_busy(void *arg)
{
    enum { LIVE = 6, MARK = 4096 };
    struct busy_keeper *k = arg;
    char *p[LIVE] = {0};
    size_t n[LIVE] = {0};
    unsigned r = k->seed;
    while (!atomic_load(k->stop)) {
        atomic_fetch_add_explicit(&k->rounds, 1, memory_order_relaxed);
        r = r * 1103515245u + 12345u;
        unsigned i = (r >> 8) % LIVE;
        char mark = (char)(k->seed + i);
        if (p[i] != NULL) {
            k->bad |= first_not(p[i], MARK, mark) != MARK || p[i][n[i] - 1] != mark;
            free(p[i]);
        }
        n[i] = 40 * KiB + (r >> 12) % (200 * KiB);
        p[i] = malloc(n[i]);
        if (p[i] == NULL) {
            k->bad = true;
            break;
        }
        memset(p[i], mark, MARK);
        p[i][n[i] - 1] = mark;
    }
    for (unsigned i = 0; i < LIVE; i++)
        free(p[i]);
    return NULL;
}

/* Trims while threads allocate and free mid-sized blocks: a trim takes
 * the spans a thread keeps only while the thread is not using them, so
 * no span is handed out twice, and none is lost. */
START_TEST(test_keeps_trimmed_while_used)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON)
        return;
    enum { THREADS = 2 };
    size_t live = stats().live_large_blocks;
    atomic_bool stop;
    atomic_init(&stop, false);
    struct busy_keeper k[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        k[i] = (struct busy_keeper){.seed = 17u * (unsigned)i + 1, .stop = &stop};
        atomic_init(&k[i].rounds, 0);
        ck_assert_int_eq(pthread_create(&th[i], NULL, keep_busy, &k[i]), 0);
    }
    /* Until both threads have done their rounds while the trims ran. */
    for (int i = 0; i < THREADS; i++)
        while (atomic_load(&k[i].rounds) < 200000)
            hak_trim();
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_msg(!k[i].bad, "thread %d: a block changed while it held it", i);
    }
    ck_assert_uint_eq(stats().live_large_blocks, live);
    hak_trim();
    ck_assert_uint_eq(stats().large_cached_spans, 0);
}
END_TEST

/* The CPUs the tests of the shards run on: two the process may use,
 * whose shards differ (1 + cpu % 8); and the mask to put back. */
static cpu_set_t saved;
static int cpus[2];

static bool two_cpus(void)
{
    if (sched_getaffinity(0, sizeof saved, &saved) != 0)
        return false;
    int n = 0;
    for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
        if (CPU_ISSET(i, &saved) && (n == 0 || i % 8 != cpus[0] % 8))
            cpus[n++] = i;
    if (n < 2)
        fprintf(stderr, "large: fewer than two CPUs to run on; the shard test is skipped\n");
    return n == 2;
}

/* Runs the calling thread on cpus[k] only. */
static void pin(int k)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[k], &set);
    ck_assert_int_eq(sched_setaffinity(0, sizeof set, &set), 0);
    ck_assert_int_eq(sched_getcpu(), cpus[k]);
}

static void unpin(void) { ck_assert_int_eq(sched_setaffinity(0, sizeof saved, &saved), 0); }

/* Frees p so that it lands in the cache, not in the thread's keep: as
 * many frees after it as the keep holds push it out, the oldest. */
static void free_to_cache(char *p)
{
    char *q[HAK_KEEP_SPANS];
    for (int i = 0; i < HAK_KEEP_SPANS; i++) {
        q[i] = malloc(40 * KiB);
        ck_assert_ptr_nonnull(q[i]);
    }
    free(p);
    for (int i = 0; i < HAK_KEEP_SPANS; i++)
        free(launder(q[i]));
}

/* A calloc served by a cached span much larger than asked trims it first,
 * and zeroes all it hands out. */
START_TEST(test_calloc_trims_reused_span)
{
    if (HAK_BACKEND->resize == NULL || HAK_TRACK_ON)
        return;
    hak_trim();
    char *p = malloc(900 * KiB);
    ck_assert_ptr_nonnull(p);
    /* Laundered: with _FORTIFY_SOURCE, a memset past the size asked for
     * aborts, usable or not. */
    memset(launder(p), 0xff, malloc_usable_size(p));
    free_to_cache(launder(p));
    char *q = calloc(1, 64 * KiB);
    ck_assert_ptr_eq(q, p);
    size_t usable = malloc_usable_size(q), i = first_not(q, usable, 0);
    ck_assert_uint_lt(usable, 200 * KiB);
    ck_assert_msg(i == usable, "calloc: byte %zu of %zu is not zero", i, usable);
    free(q);
}
END_TEST

/* The cache has a shard per CPU for mid-sized spans; a span cached on one
 * CPU serves a malloc on another, and one large enough there is taken
 * rather than a smaller one grown on this CPU's (a kernel call). */
START_TEST(test_shards_share_spans)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON || !two_cpus())
        return;
    hak_trim();
    char *small = malloc(100 * KiB), *big = malloc(300 * KiB);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(big);
    pin(1);
    free_to_cache(small);
    pin(0);
    free_to_cache(big);
    pin(1);
    unsigned long calls = atomic_load(&vm_calls);
    char *p = malloc(300 * KiB);
    ck_assert_ptr_eq(p, big);
    char *q = malloc(100 * KiB);
    ck_assert_ptr_eq(q, small);
    ck_assert_uint_eq(atomic_load(&vm_calls), calls);
    unpin();
    free(p);
    free(q);
}
END_TEST

/* All shards together keep at most HAK_LARGE_CACHE_BYTES: a span cached
 * on a second CPU when the first CPU's shard holds all of that makes the
 * first give up its oldest. The thread keeps HAK_KEEP_BYTES more, outside
 * the bound. */
START_TEST(test_shards_bounded_together)
{
    if (_hak_opt.decay_ms == 0 || HAK_TRACK_ON || !two_cpus())
        return;
    hak_trim();
    enum { N = (int)(HAK_LARGE_CACHE_BYTES / (900 * KiB)) + 3 };
    size_t size = 900 * KiB, span = span_bytes(size);
    ck_assert_uint_gt((N - 2) * span, HAK_LARGE_CACHE_BYTES);
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(size);
        ck_assert_ptr_nonnull(p[i]);
    }
    pin(0);
    for (int i = 0; i < N - 1; i++)
        free(p[i]);
    pin(1);
    free(p[N - 1]);
    unpin();
    size_t cached = stats().large_cached_spans;
    ck_assert_msg(cached * span <= HAK_LARGE_CACHE_BYTES + HAK_KEEP_BYTES,
                  "%zu spans of %zu bytes cached", cached, span);
    /* Not all of them went: the bound is what is given back. */
    ck_assert_uint_ge(cached * span, HAK_LARGE_CACHE_BYTES - span);
    hak_trim();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("large");
    TCase *tc = tcase_create("sizes");
    tcase_add_loop_test(tc, test_large_block, 0,
                        (int)(sizeof large_sizes / sizeof large_sizes[0]));
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("split");
    tcase_add_test(tc, test_calloc_split_threads);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("aligned");
    tcase_add_test(tc, test_aligned);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("reuse");
    tcase_add_test(tc, test_spans_coloured);
    tcase_add_test(tc, test_span_reuse);
    tcase_add_test(tc, test_calloc_reused_span);
    tcase_add_test(tc, test_calloc_splits_span);
    tcase_add_test(tc, test_calloc_populates_fresh_span);
    tcase_add_test(tc, test_span_resized_for_reuse);
    tcase_add_test(tc, test_span_reused_whole);
    tcase_add_test(tc, test_realloc_without_copy);
    tcase_add_test(tc, test_realloc_split_span);
    suite_add_tcase(s, tc);
    tc = tcase_create("kept");
    tcase_add_test(tc, test_kept_span_reused);
    tcase_add_test(tc, test_coloured_span_aligned);
    tcase_add_test(tc, test_aligned_empty_block);
    tcase_add_test(tc, test_kept_span_outlives_thread);
    tcase_add_test(tc, test_kept_span_decays);
    tcase_add_test(tc, test_idle_thread_keeps_decay);
    tcase_add_test(tc, test_keeps_trimmed_while_used);
    tcase_add_test(tc, test_keeps_after_membarrier_fails);
    tcase_add_test(tc, test_calloc_trims_reused_span);
    tcase_add_test(tc, test_shards_share_spans);
    tcase_add_test(tc, test_shards_bounded_together);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("realloc");
    tcase_add_test(tc, test_realloc);
    suite_add_tcase(s, tc);
    /* Under valgrind memcheck reports bad frees, and hakmem ignores them
     * (tests/valgrind checks that). */
    if (HAK_TRACK_ON)
        return s;
    tc = tcase_create("misuse");
#if HAKMEM_BUILD_RELEASE
    /* Release builds report a bad pointer and carry on. */
    tcase_add_loop_test(tc, test_bad_free, 0, 2);
#else
    /* Debug builds report it and abort, at the first bad free. */
    tcase_add_loop_test_raise_signal(tc, test_bad_free, SIGABRT, 0, 2);
#endif
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
