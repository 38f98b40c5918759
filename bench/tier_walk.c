/* hakmem benchmark: the generated fast path against a walk of the tier
 * vtable, single thread, malloc/free pairs of one size (and a batch
 * pattern that misses the top tier now and then).
 *
 * usage: tier_walk [PAIRS]   (default 20,000,000)
 * Prints ns per malloc/free pair for each path and their ratio. The
 * generated path is what hak_malloc/hak_free run (the top tier's inline
 * pop/push, direct calls); the walk does the same work (thread lookup,
 * class, chunk-map lookup, block check) but calls the top tier through
 * _hak_plan_ops, as the slow paths, tests and stats do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hakmem.h"
#include "alloc.h"
#include "tier.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *volatile sink;

static HAK_NOINLINE void *walk_malloc(size_t size)
{
    struct hak_thread *t = _hak_tls;
    unsigned cls = hak_size_class(size);
    void *b = _hak_plan_ops[0]->pop(t, cls);
    return b != NULL ? b : _hak_stack_alloc(t, cls);
}

static HAK_NOINLINE void walk_free(void *p)
{
    struct hak_thread *t = _hak_tls;
    if ((_hak_map_lookup(p) & HAK_CHUNK_KIND_MASK) != HAK_CHUNK_SS)
        abort();
    const struct hak_slab *s = _hak_slab_of(p);
    unsigned cls = s->cls;
    if (!_hak_block_ok(s, p))
        abort();
    if (!_hak_plan_ops[0]->push(t, cls, p))
        _hak_stack_free(t, cls, p);
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 20000000;
    enum { BATCH = 100 };
    void *batch[BATCH];
    hak_free(hak_malloc(16));                   /* the thread's state exists */
    double gen = 0, walk = 0;
    /* Interleave the two, three rounds each, best of each. */
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        for (long i = 0; i < pairs / BATCH; i++) {
            for (int j = 0; j < BATCH; j++)
                batch[j] = hak_malloc(16 + (size_t)(j & 7) * 16);
            sink = batch[i % BATCH];
            for (int j = 0; j < BATCH; j++)
                hak_free(batch[j]);
        }
        double t1 = now();
        for (long i = 0; i < pairs / BATCH; i++) {
            for (int j = 0; j < BATCH; j++)
                batch[j] = walk_malloc(16 + (size_t)(j & 7) * 16);
            sink = batch[i % BATCH];
            for (int j = 0; j < BATCH; j++)
                walk_free(batch[j]);
        }
        double t2 = now();
        if (round == 0 || t1 - t0 < gen)
            gen = t1 - t0;
        if (round == 0 || t2 - t1 < walk)
            walk = t2 - t1;
    }
    printf("plan %s\n", hak_tier_plan());
    printf("generated fast path: %.2f ns per malloc/free pair\n", gen * 1e9 / (double)pairs);
    printf("vtable walk:         %.2f ns per malloc/free pair\n", walk * 1e9 / (double)pairs);
    printf("walk / generated:    %.2fx\n", walk / gen);
    return 0;
}
