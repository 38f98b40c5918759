/* hakmem test: the Larson-style workload of the original crash analysis.
 *
 * Each worker churns an array of blocks of random sizes 8..1024 (free a
 * random slot, allocate a new block there), then hands the whole array to
 * a new thread and exits; the new thread frees the old thread's blocks as
 * it churns. Every block carries a pattern derived from its address, size
 * and generation, checked before it is freed. tests/matrix.sh runs this
 * under every combination of the tier knobs.
 *
 * usage: matrix THREADS [GENERATIONS] [ROUNDS]
 * Exit 0: no corrupted block, and hakmem reports no more live blocks at
 * the end than before the run (the C library's own, see live_baseline). Exit 1 with a message otherwise.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hakmem.h"
#include "hak_alloc.h"

#define SLOTS 1000
#define MIN_SIZE 8
#define MAX_SIZE 1024

struct block {
    unsigned char *p;
    size_t size;
    uint32_t tag;
};

struct worker {
    struct block slot[SLOTS];
    uint64_t rng;
    int generations_left;
    int rounds;
    pthread_t prev, last;   /* previous generation; the one that finished */
    int has_prev, done;
};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static unsigned char pattern(const struct block *b, size_t i)
{
    return (unsigned char)(((uintptr_t)b->p >> 4) ^ b->tag ^ (i * 131));
}

static void fill(struct block *b)
{
    for (size_t i = 0; i < b->size; i++)
        b->p[i] = pattern(b, i);
}

static void check_and_free(struct block *b)
{
    if (b->p == NULL)
        return;
    for (size_t i = 0; i < b->size; i++) {
        if (b->p[i] != pattern(b, i)) {
            fprintf(stderr, "matrix: corrupted block %p (size %zu) at byte %zu\n", (void *)b->p,
                    b->size, i);
            exit(1);
        }
    }
    free(b->p);
    b->p = NULL;
}

static void alloc_slot(struct worker *w, struct block *b)
{
    b->size = MIN_SIZE + next_rand(&w->rng) % (MAX_SIZE - MIN_SIZE + 1);
    b->p = malloc(b->size);
    if (b->p == NULL) {
        fprintf(stderr, "matrix: malloc(%zu) failed\n", b->size);
        exit(1);
    }
    b->tag = (uint32_t)next_rand(&w->rng);
    fill(b);
}

static void *idle(void *arg)
{
    return arg;
}

/* glibc keeps the stacks of exited threads, each with a small block (its
 * TLS vector) from malloc, in a bounded cache. Filling that cache first
 * makes the count of live blocks comparable before and after the run. The
 * same goes for hakmem's purger thread, started by the first free that
 * leaves memory to give back: free a large block to start it now. */
static size_t live_baseline(int n)
{
    free(malloc(1 << 20));
    pthread_t *th = calloc((size_t)n, sizeof *th);
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, idle, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    free(th);
    struct hak_stats st;
    hak_stats_get(&st, sizeof st);
    return st.live_small_blocks;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int r = 0; r < w->rounds; r++) {
        struct block *b = &w->slot[next_rand(&w->rng) % SLOTS];
        check_and_free(b);
        alloc_slot(w, b);
    }
    /* The previous generation has exited (or is exiting) by now. */
    if (w->has_prev)
        pthread_join(w->prev, NULL);
    if (--w->generations_left > 0) {
        /* Hand the array, and its blocks, to a new thread. */
        w->prev = pthread_self();
        w->has_prev = 1;
        pthread_t next;
        if (pthread_create(&next, NULL, work, w) != 0) {
            fprintf(stderr, "matrix: pthread_create failed\n");
            exit(1);
        }
    } else {
        w->last = pthread_self();
        __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    int generations = argc > 2 ? atoi(argv[2]) : 8;
    int rounds = argc > 3 ? atoi(argv[3]) : 20000;
    if (threads < 1 || generations < 1 || rounds < 1) {
        fprintf(stderr, "usage: matrix THREADS [GENERATIONS] [ROUNDS]\n");
        return 2;
    }
    size_t baseline = live_baseline(2 * threads + 8);
    struct worker *w = calloc((size_t)threads, sizeof *w);
    for (int i = 0; i < threads; i++) {
        w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        w[i].rounds = rounds;
        w[i].generations_left = generations;
        for (int s = 0; s < SLOTS; s++)
            alloc_slot(&w[i], &w[i].slot[s]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_t t0;
        if (pthread_create(&t0, NULL, work, &w[i]) != 0) {
            fprintf(stderr, "matrix: pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < threads; i++) {
        while (!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        pthread_join(w[i].last, NULL);
    }
    for (int i = 0; i < threads; i++)
        for (int s = 0; s < SLOTS; s++)
            check_and_free(&w[i].slot[s]);
    free(w);
    struct hak_stats st;
    if (hak_stats_get(&st, sizeof st) != 0) {
        fprintf(stderr, "matrix: hak_stats_get failed\n");
        return 1;
    }
    if (st.live_small_blocks > baseline || st.live_large_blocks != 0) {
        fprintf(stderr,
                "matrix: %zu small (%zu before the run) and %zu large blocks live after every free\n",
                st.live_small_blocks, baseline, st.live_large_blocks);
        hak_stats_print(stderr);
        return 1;
    }
    printf("matrix: %d threads x %d generations x %d rounds: ok (%zu remote frees, %zu adoptions)\n",
           threads, generations, rounds, st.remote_frees, st.adoptions);
    return 0;
}
