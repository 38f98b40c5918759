/* hakmem bench: a large heap of small blocks, accessed at random.
 *
 * This is where the hugepage backend should pay: on 4 KiB pages a 1 GiB
 * heap is 262144 pages, far more than the TLB maps, so nearly every random
 * access also walks the page table; on 2 MiB pages it is 512 pages, which
 * the second-level TLB of a current x86-64 core covers. Building the heap
 * also takes 512 page faults instead of 262144.
 *
 * Phases, each timed:
 *   alloc  malloc blocks of 16..128 random bytes until they add up to the
 *          heap size, writing each (as a program does);
 *   walk   the blocks are linked into one random cycle, then followed for
 *          the given number of steps, each reading the next pointer and
 *          bumping a counter in the block: one dependent load per step, so
 *          the time per step is memory latency including address
 *          translation;
 *   free   every block, in random order.
 * The pointer array is mmap'd, not malloc'd, so the heap under test holds
 * only the blocks.
 *
 * Run it from the build directory (it is a plain program; malloc is
 * whichever allocator is loaded):
 *   make bench/bigheap
 *   LD_PRELOAD=.libs/libhakmem.so HAKMEM_BACKEND=os       bench/bigheap
 *   LD_PRELOAD=.libs/libhakmem.so HAKMEM_BACKEND=hugepage bench/bigheap
 *   bench/bigheap                                         (the C library)
 * Arguments: bigheap [HEAP_MIB [WALK_MSTEPS [SEED]]], default 1024 30 1.
 * Output: one line of key=value pairs (times in seconds, walk in ns per
 * step, resident and huge-page memory in MiB after the alloc phase).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct blk {
    struct blk *next;
    uint64_t count;
};

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = (rng_state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The kB figure of a "Name: N kB" line of a /proc file; -1 if absent. */
static long proc_kb(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kb = -1;
    size_t len = strlen(name);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, name, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static void shuffle(struct blk **a, size_t n)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng() % (i + 1);
        struct blk *t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int main(int argc, char **argv)
{
    size_t heap = (size_t)(argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
    uint64_t steps = (argc > 2 ? strtoull(argv[2], NULL, 10) : 30) * 1000000ull;
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    if (heap == 0 || steps == 0) {
        fputs("usage: bigheap [HEAP_MIB [WALK_MSTEPS [SEED]]]\n", stderr);
        return 2;
    }
    size_t cap = heap / 16;
    struct blk **a = mmap(NULL, cap * sizeof *a, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED) {
        perror("bigheap: mmap");
        return 1;
    }

    double t0 = now();
    size_t n = 0;
    for (size_t bytes = 0; bytes < heap; n++) {
        size_t size = 16 + rng() % (128 - 16 + 1);
        struct blk *b = malloc(size);
        if (b == NULL) {
            perror("bigheap: malloc");
            return 1;
        }
        b->next = NULL;
        b->count = 0;
        a[n] = b;
        bytes += size;
    }
    double t_alloc = now() - t0;
    long rss_kb = proc_kb("/proc/self/status", "VmRSS");
    long huge_kb = proc_kb("/proc/self/smaps_rollup", "AnonHugePages");

    shuffle(a, n);
    for (size_t i = 0; i + 1 < n; i++)
        a[i]->next = a[i + 1];
    a[n - 1]->next = a[0];
    struct blk *p = a[0];
    t0 = now();
    for (uint64_t s = 0; s < steps; s++) {
        p->count++;
        p = p->next;
    }
    double t_walk = now() - t0;
    /* Keeps the walk from being optimised away. */
    if (p->count == UINT64_MAX)
        puts("");

    shuffle(a, n);
    t0 = now();
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    double t_free = now() - t0;

    printf("bigheap: heap_mib=%zu blocks=%zu alloc_s=%.3f walk_ns=%.1f free_s=%.3f "
           "rss_mib=%ld anon_huge_mib=%ld\n",
           heap >> 20, n, t_alloc, t_walk * 1e9 / (double)steps, t_free, rss_kb / 1024,
           huge_kb / 1024);
    munmap(a, cap * sizeof *a);
    return 0;
}
