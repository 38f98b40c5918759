/* hakmem benchmarks: producers allocate, consumers free.
 *
 *   xthread PRODUCERS CONSUMERS ITEMS MIN MAX SEED
 *
 * Each producer allocates ITEMS blocks of random sizes in [MIN, MAX],
 * fills them and sends them in batches of BATCH, round robin, to the
 * consumers; each consumer checks and frees what it receives. No block is
 * ever freed by the thread that allocated it, so this measures an
 * allocator's remote-free path and how fast memory freed on one thread
 * becomes reusable on another.
 *
 * The queues are single-producer single-consumer rings, one per
 * (producer, consumer) pair, carrying whole batches: per block, the only
 * cross-core traffic left is the allocator's own.
 *
 * One op is one block (its malloc and its free). Prints ops/s.
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#define USAGE "usage: xthread PRODUCERS CONSUMERS ITEMS MIN MAX SEED\n" \
              "  ITEMS blocks per producer, sizes in [MIN, MAX] bytes"

/* 64 blocks amortise a queue hand-off; 16 batches in flight let a
 * producer run ahead while its consumer is descheduled (2 cores run 4+
 * threads here) without holding much memory. */
#define BATCH 64
#define RING 16

struct batch {
    size_t n;
    struct bench_block b[BATCH];
};

/* head is written by the consumer, tail and closed by the producer. A
 * batch below tail is the consumer's until head passes it. */
struct ring {
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
    atomic_bool closed;
    struct batch slot[RING];
};

struct worker {
    pthread_t thread;
    size_t id;
    uint64_t rng;
};

static size_t g_producers, g_consumers, g_min, g_max;
static uint64_t g_items;
static struct ring *g_rings; /* [producer * g_consumers + consumer] */

static void *produce(void *arg)
{
    struct worker *w = arg;
    struct ring *mine = &g_rings[w->id * g_consumers];
    uint64_t left = g_items;
    for (size_t to = 0; left > 0; to = (to + 1) % g_consumers) {
        struct ring *r = &mine[to];
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        while (tail - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
            sched_yield();
        struct batch *b = &r->slot[tail % RING];
        b->n = left < BATCH ? (size_t)left : BATCH;
        for (size_t k = 0; k < b->n; k++) {
            uint64_t key = bench_rand(&w->rng);
            bench_alloc(&b->b[k], bench_rand_size(&w->rng, g_min, g_max), key);
        }
        left -= b->n;
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    }
    for (size_t c = 0; c < g_consumers; c++)
        atomic_store_explicit(&mine[c].closed, true, memory_order_release);
    return NULL;
}

/* Frees every batch queued on r; returns whether there was any. */
static bool drain(struct ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    for (size_t h = head; h != tail; h++) {
        struct batch *b = &r->slot[h % RING];
        for (size_t k = 0; k < b->n; k++)
            bench_release(&b->b[k]);
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
    return head != tail;
}

static void *consume(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        bool busy = false, open = false;
        for (size_t p = 0; p < g_producers; p++) {
            struct ring *r = &g_rings[p * g_consumers + w->id];
            /* closed is read first: once it is seen, the tail read by
             * drain() is the producer's last. */
            if (!atomic_load_explicit(&r->closed, memory_order_acquire))
                open = true;
            busy |= drain(r);
        }
        if (!busy && !open)
            return NULL;
        if (!busy)
            sched_yield();
    }
}

static void spawn(struct worker *w, void *(*fn)(void *))
{
    bench_thread(&w->thread, fn, w);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "%s\n", USAGE);
        return BENCH_EXIT_USAGE;
    }
    g_producers = bench_arg_u64(argv[1], "PRODUCERS", 1, 256, USAGE);
    g_consumers = bench_arg_u64(argv[2], "CONSUMERS", 1, 256, USAGE);
    g_items = bench_arg_u64(argv[3], "ITEMS", 1, (uint64_t)1 << 40, USAGE);
    g_min = bench_arg_u64(argv[4], "MIN", 1, (uint64_t)1 << 30, USAGE);
    g_max = bench_arg_u64(argv[5], "MAX", g_min, (uint64_t)1 << 30, USAGE);
    uint64_t seed = bench_arg_u64(argv[6], "SEED", 0, UINT64_MAX, USAGE);

    size_t nrings = g_producers * g_consumers;
    g_rings = aligned_alloc(_Alignof(struct ring), nrings * sizeof *g_rings);
    struct worker *ws = calloc(g_producers + g_consumers, sizeof *ws);
    if (g_rings == NULL || ws == NULL)
        bench_oom(nrings * sizeof *g_rings);
    for (size_t i = 0; i < nrings; i++) {
        atomic_init(&g_rings[i].head, 0);
        atomic_init(&g_rings[i].tail, 0);
        atomic_init(&g_rings[i].closed, false);
    }

    double t0 = bench_now();
    for (size_t i = 0; i < g_producers + g_consumers; i++) {
        ws[i].id = i < g_producers ? i : i - g_producers;
        ws[i].rng = seed + i;
        spawn(&ws[i], i < g_producers ? produce : consume);
    }
    for (size_t i = 0; i < g_producers + g_consumers; i++)
        pthread_join(ws[i].thread, NULL);
    double elapsed = bench_now() - t0;

    free(ws);
    free(g_rings);
    printf("xthread: %zu producers, %zu consumers, %" PRIu64 " items each, %zu..%zu bytes, %.2f s\n",
           g_producers, g_consumers, g_items, g_min, g_max, elapsed);
    bench_report(g_producers * g_items, elapsed);
    return 0;
}
