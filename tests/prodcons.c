/* hakmem test: producer/consumer stays bounded.
 *
 * usage: prodcons [BLOCKS]   (default 1,500,000 blocks in all)
 * 8 producers allocate blocks of 256 B..4 KiB and push them into a
 * bounded queue of 24,576 slots; 1 consumer checks and frees them. The
 * live set is therefore at most the queue: about 24,576 x 2.1 KiB = 52 MiB
 * of requested bytes (measured: the test prints it).
 * Bound: peak resident size <= 1.5 x the live set's bytes + 96 MiB. The
 * 1.5x covers class rounding (<= 20%) and partly used slabs. The constant:
 *   64 MiB  blocks the consumer freed that wait in their slab's remote
 *           queue until the producer drains it: a producer examines its
 *           full slabs a few (SCAN_STEP = 8) at a time, so per producer and
 *           class up to 8 slabs of 64 KiB may wait: 8 x 16 classes x 8 x
 *           64 KiB;
 *   32 MiB  the caches: the magazine depot (if HAKMEM_MAG_DEPOT is set,
 *           16 full magazines per class of at most 32 KiB each, 16
 *           classes: 8 MiB), and each thread's tiers at most 32 KiB per
 *           class and tier (9 threads, 16 classes, 2 tiers: 9 MiB); the
 *           rest is margin.
 * Measured on 2 cores (peak, over plans): about 1.5x + 40..90 MiB; glibc
 * 2.36 peaks at about 2x the live set on the same run.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hak_alloc.h"

#define PRODUCERS 8
#define SLOTS 24576
#define MiB ((size_t)1 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static unsigned char *queue[SLOTS];
static uint32_t sizes[SLOTS];
static size_t head, count, queued_bytes, max_queued_bytes;
static long remaining;

static void fail(const char *what)
{
    fprintf(stderr, "prodcons: %s\n", what);
    exit(1);
}

static void *producer(void *arg)
{
    uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 7;
    for (;;) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint32_t size = 256 + (uint32_t)(rng % 3841);
        unsigned char *p = malloc(size);
        if (p == NULL)
            fail("malloc failed");
        memset(p, (int)(size & 0xff), size);
        pthread_mutex_lock(&lock);
        while (count == SLOTS && remaining > 0)
            pthread_cond_wait(&not_full, &lock);
        if (remaining <= 0) {
            pthread_mutex_unlock(&lock);
            free(p);
            return NULL;
        }
        remaining--;
        size_t tail = (head + count) % SLOTS;
        queue[tail] = p;
        sizes[tail] = size;
        count++;
        queued_bytes += size;
        if (queued_bytes > max_queued_bytes)
            max_queued_bytes = queued_bytes;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
}

static size_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %zu kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib * 1024;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 1500000;
    remaining = total;
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, producer, (void *)(intptr_t)(i + 1));
    for (long consumed = 0; consumed < total; consumed++) {
        pthread_mutex_lock(&lock);
        while (count == 0)
            pthread_cond_wait(&not_empty, &lock);
        unsigned char *p = queue[head];
        uint32_t size = sizes[head];
        head = (head + 1) % SLOTS;
        count--;
        queued_bytes -= size;
        pthread_cond_broadcast(&not_full);
        pthread_mutex_unlock(&lock);
        for (uint32_t i = 0; i < size; i += 64)
            if (p[i] != (unsigned char)(size & 0xff))
                fail("corrupted block");
        free(p);
    }
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&not_full);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    size_t peak = peak_rss(), bound = max_queued_bytes * 3 / 2 + 96 * MiB;
    printf("prodcons: %ld blocks; live set at most %zu MiB; peak rss %zu MiB; bound %zu MiB\n",
           total, max_queued_bytes / MiB, peak / MiB, bound / MiB);
    if (peak > bound)
        fail("peak resident size above 1.5 x the live set + 96 MiB");
    return 0;
}
