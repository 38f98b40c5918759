/* hakmem benchmarks: what larson, random_mixed and xthread share.
 *
 * The benchmarks call only the C library's malloc and free, so any
 * allocator can be measured by preloading it. Each block a benchmark holds
 * carries a pattern derived from a random key; the pattern is checked just
 * before the block is freed, so an allocator that hands a block out twice,
 * overlaps two blocks or writes into a live one is caught. Only the first
 * and last 16 bytes are written (all of a block under 16 bytes): filling
 * whole blocks would make memory bandwidth, not the allocator, the thing
 * measured, and allocator metadata (free-list links, headers) sits at a
 * block's edges, as does the overlap of two blocks handed out too close.
 *
 * Exit status: 0 ok, 1 bad arguments or out of memory, 2 corruption.
 * The last line a benchmark prints is "<N> ops/s"; tools/compare reads it.
 */
#ifndef HAK_BENCH_H
#define HAK_BENCH_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_EXIT_USAGE 1
#define BENCH_EXIT_CORRUPT 2

/* A block held by a benchmark: where, how big, and the key of its fill. */
struct bench_block {
    void *p;
    size_t size;
    uint64_t key;
};

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: one multiply-xorshift chain per number, good enough to
 * drive sizes and victims, cheap enough not to show in the profile. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
static inline size_t bench_rand_size(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(bench_rand(state) % (hi - lo + 1));
}

/* Blocks of 16 bytes and more get whole words at their edges, placed so
 * that they never overlap; smaller ones are filled byte by byte. */
static inline uint64_t bench_word(uint64_t key, size_t off)
{
    return key ^ ((uint64_t)off * 0x9e3779b97f4a7c15u);
}

static inline unsigned char bench_byte(uint64_t key, size_t i)
{
    return (unsigned char)((key >> ((i & 7) * 8)) ^ i);
}

static inline size_t bench_edges(size_t size, size_t offs[4])
{
    offs[0] = 0;
    if (size < 32) {
        offs[1] = size - 8;
        return 2;
    }
    offs[1] = 8;
    offs[2] = size - 16;
    offs[3] = size - 8;
    return 4;
}

static inline void bench_fill(const struct bench_block *b)
{
    unsigned char *c = b->p;
    if (b->size < 16) {
        for (size_t i = 0; i < b->size; i++)
            c[i] = bench_byte(b->key, i);
        return;
    }
    size_t offs[4], n = bench_edges(b->size, offs);
    for (size_t k = 0; k < n; k++) {
        uint64_t w = bench_word(b->key, offs[k]);
        memcpy(c + offs[k], &w, 8);
    }
}

static inline int bench_intact(const struct bench_block *b)
{
    const unsigned char *c = b->p;
    if (b->size < 16) {
        for (size_t i = 0; i < b->size; i++)
            if (c[i] != bench_byte(b->key, i))
                return 0;
        return 1;
    }
    size_t offs[4], n = bench_edges(b->size, offs);
    for (size_t k = 0; k < n; k++) {
        uint64_t w;
        memcpy(&w, c + offs[k], 8);
        if (w != bench_word(b->key, offs[k]))
            return 0;
    }
    return 1;
}

static inline void bench_oom(size_t size)
{
    fprintf(stderr, "malloc(%zu) failed\n", size);
    exit(BENCH_EXIT_USAGE);
}

/* Allocates and fills b; key is the caller's fresh random number. */
static inline void bench_alloc(struct bench_block *b, size_t size, uint64_t key)
{
    b->p = malloc(size);
    if (b->p == NULL)
        bench_oom(size);
    b->size = size;
    b->key = key;
    bench_fill(b);
}

/* Checks and frees b. Corruption ends the process at once: the other
 * threads must not go on running on a heap known to be broken. */
static inline void bench_release(struct bench_block *b)
{
    if (!bench_intact(b)) {
        fprintf(stderr, "corruption: block %p of %zu bytes does not hold its pattern\n",
                b->p, b->size);
        _Exit(BENCH_EXIT_CORRUPT);
    }
    free(b->p);
    b->p = NULL;
}

/* Starts fn(arg) in a new thread, or exits: a benchmark short of its
 * threads measures nothing. */
static inline void bench_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
    int err = pthread_create(th, NULL, fn, arg);
    if (err != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(err));
        exit(BENCH_EXIT_USAGE);
    }
}

/* Parses a non-negative integer argument in [lo, hi] or exits with usage. */
static inline uint64_t bench_arg_u64(const char *s, const char *name, uint64_t lo,
                                     uint64_t hi, const char *usage)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "%s: must be an integer in [%" PRIu64 ", %" PRIu64 "], not '%s'\n%s\n",
                name, lo, hi, s, usage);
        exit(BENCH_EXIT_USAGE);
    }
    return v;
}

static inline double bench_arg_seconds(const char *s, const char *name, const char *usage)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0 && v <= 86400)) {
        fprintf(stderr, "%s: must be a number of seconds in (0, 86400], not '%s'\n%s\n",
                name, s, usage);
        exit(BENCH_EXIT_USAGE);
    }
    return v;
}

static inline void bench_report(uint64_t ops, double seconds)
{
    printf("%.0f ops/s\n", (double)ops / seconds);
}

#endif /* HAK_BENCH_H */
