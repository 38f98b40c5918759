/* hakmem test: thread churn.
 *
 * usage: churn [THREADS]   (default 20000; at most 16 alive at a time)
 * Each thread allocates about 1 MiB in blocks of 16 B..4 KiB, frees half
 * of them itself and leaves the other half to later threads, and frees as
 * many blocks left by earlier threads as it allocates. Every 10th thread
 * only frees. Every thread also leaves a block in a pthread key of the
 * program's whose destructor frees it, and allocates and frees in that
 * destructor: those run after hakmem's own thread-exit destructor (keys
 * run in creation order, and hakmem created its key first).
 *
 * Passes when no block is corrupted, hakmem reports no more live blocks
 * than before the run, and the resident size stays bounded:
 *   at the end, before any trim: start + 96 MiB. What may remain is the
 *   free memory not yet past its decay: the blocks cached in the main
 *   thread's tiers, the magazine depot, and the SuperSlabs still waiting
 *   for the decay, at most the peak live set (16 threads x 1 MiB plus the
 *   hand-off pool of about 8 MiB) times the slab fragmentation (<= 2x)
 *   plus the 64 MiB large-span cache bound; 96 MiB covers it.
 *   after hak_trim(): start + 16 MiB (one empty SuperSlab, the tiers of
 *   the main thread and the test's own arrays).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"
#include "hak_alloc.h"

#define MiB ((size_t)1 << 20)
#define ALIVE 16
#define PER_THREAD_BYTES MiB
#define POOL 16384

struct block {
    unsigned char *p;
    uint32_t size, tag;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block pool[POOL];
static size_t pool_n;
static pthread_key_t tsd_key;

static void fail(const char *what)
{
    fprintf(stderr, "churn: %s\n", what);
    exit(1);
}

static void fill(struct block *b)
{
    memset(b->p, (int)(b->tag & 0xff), b->size);
}

static void check_free(struct block *b)
{
    for (uint32_t i = 0; i < b->size; i++)
        if (b->p[i] != (unsigned char)(b->tag & 0xff))
            fail("corrupted block");
    free(b->p);
}

static void tsd_destructor(void *v)
{
    free(v);                            /* after hakmem's own destructor */
    void *again = malloc(100);
    if (again == NULL)
        fail("malloc in a TSD destructor failed");
    memset(again, 1, 100);
    free(again);
}

static void *worker(void *arg)
{
    uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    long id = (long)(intptr_t)arg;
    void *tsd = malloc(64);
    if (tsd == NULL)
        fail("malloc failed");
    pthread_setspecific(tsd_key, tsd);
    bool only_free = id % 10 == 9;
    size_t mine_n = 0, bytes = 0, cap = 8192;
    struct block *mine = calloc(cap, sizeof *mine);
    while (!only_free && bytes < PER_THREAD_BYTES && mine_n < cap) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        struct block b = {NULL, (uint32_t)(16 + rng % 4081), (uint32_t)(rng >> 32)};
        if ((b.p = malloc(b.size)) == NULL)
            fail("malloc failed");
        fill(&b);
        mine[mine_n++] = b;
        bytes += b.size;
    }
    /* Free half of ours; as many of earlier threads' blocks; leave the
     * rest of ours to later threads. */
    size_t freed_theirs = 0, want = only_free ? 512 : mine_n / 2;
    for (size_t i = 0; i < mine_n; i += 2)
        check_free(&mine[i]);
    pthread_mutex_lock(&pool_lock);
    while (freed_theirs < want && pool_n > 0) {
        check_free(&pool[--pool_n]);
        freed_theirs++;
    }
    for (size_t i = 1; i < mine_n; i += 2) {
        if (pool_n < POOL)
            pool[pool_n++] = mine[i];
        else
            check_free(&mine[i]);
    }
    pthread_mutex_unlock(&pool_lock);
    free(mine);
    return NULL;
}

static size_t rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    if (f == NULL || fscanf(f, "%lu %lu", &size, &resident) != 2)
        fail("cannot read /proc/self/statm");
    fclose(f);
    return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static struct hak_stats stats(void)
{
    struct hak_stats st;
    hak_stats_get(&st, sizeof st);
    return st;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    pthread_key_create(&tsd_key, tsd_destructor);
    pthread_t ring[ALIVE];
    /* Warm glibc's stack cache and hakmem's purger (see tests/matrix.c). */
    free(malloc(MiB));
    for (int i = 0; i < ALIVE; i++)
        pthread_create(&ring[i], NULL, worker, (void *)(intptr_t)(i * 10 + 9));
    for (int i = 0; i < ALIVE; i++)
        pthread_join(ring[i], NULL);
    size_t base_live = stats().live_small_blocks, start = rss();
    for (long i = 0; i < n; i++) {
        if (i >= ALIVE)
            pthread_join(ring[i % ALIVE], NULL);
        if (pthread_create(&ring[i % ALIVE], NULL, worker, (void *)(intptr_t)i) != 0)
            fail("pthread_create failed");
    }
    for (long i = n > ALIVE ? n - ALIVE : 0; i < n; i++)
        pthread_join(ring[i % ALIVE], NULL);
    while (pool_n > 0)
        check_free(&pool[--pool_n]);
    struct hak_stats st = stats();
    size_t end = rss();
    printf("churn: %ld threads; rss start %zu MiB, end %zu MiB; live small %zu (baseline %zu), "
           "adoptions %zu, remote frees %zu\n",
           n, start / MiB, end / MiB, st.live_small_blocks, base_live, st.adoptions,
           st.remote_frees);
    if (st.live_small_blocks > base_live || st.live_large_blocks != 0)
        fail("blocks still live after every free");
    if (end > start + 96 * MiB)
        fail("resident size above its bound at the end");
    hak_trim();
    size_t trimmed = rss();
    printf("churn: rss after hak_trim %zu MiB\n", trimmed / MiB);
    if (trimmed > start + 16 * MiB)
        fail("resident size above its bound after hak_trim");
    return 0;
}
