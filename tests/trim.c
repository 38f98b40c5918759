/* hakmem test: memory goes back to the OS.
 *
 * usage: trim MODE   (MODE = trim | decay)
 * Allocates TOTAL (256 MiB, ten times SLACK), half in small blocks and half
 * in large ones, writes every page, frees it all, then checks that the
 * resident size falls back to within SLACK of where it started:
 *   trim   right after hak_trim(), which must report releasing at least the
 *          large spans it still cached (empty SuperSlabs go back as soon as
 *          they are empty, so they are not hak_trim's to count);
 *   decay  without any call, while the thread that freed it sleeps, within
 *          a few decays (run with HAKMEM_DECAY_MS=200).
 * SLACK (24 MiB) covers what stays by design: each thread's cache tiers
 * (at most 32 KiB per class and tier), one current slab per class, one
 * empty SuperSlab kept against churn, and the test's own pointer arrays.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"
#include "hak_alloc.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define ASAN 1
#else
#define ASAN 0
#endif

#define MiB ((size_t)1 << 20)
#define TOTAL (256 * MiB)
#define SLACK (24 * MiB)
#define SMALL 1000
#define LARGE (4 * MiB)

/* AddressSanitizer's shadow of hakmem's memory: the test's own memset()
 * reads it, one byte per 8, and on some kernels a read of an untouched page
 * makes it resident. That is the sanitizer's memory, not hakmem's, and
 * TOTAL of blocks leaves TOTAL / 8 of it, so it is left out of the count. */
static size_t shadow_rss(void)
{
#if ASAN
    size_t scale, offset;
    __asan_get_shadow_mapping(&scale, &offset);
    uintptr_t lo = offset, hi = ((uintptr_t)1 << 47 >> scale) + offset;
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    uintptr_t start = 0, end = 0;
    size_t total = 0, kb;
    if (f == NULL) {
        fprintf(stderr, "trim: cannot read /proc/self/smaps\n");
        exit(1);
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &start, &end) == 2)
            continue;
        if (sscanf(line, "Rss: %zu kB", &kb) == 1 && start >= lo && end <= hi)
            total += kb * 1024;
    }
    fclose(f);
    return total;
#else
    return 0;
#endif
}

static size_t rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        fprintf(stderr, "trim: cannot read /proc/self/statm\n");
        exit(1);
    }
    fclose(f);
    return resident * (size_t)sysconf(_SC_PAGESIZE) - shadow_rss();
}

static void *churn(void *arg)
{
    (void)arg;
    size_t nsmall = TOTAL / 2 / SMALL, nlarge = TOTAL / 2 / LARGE;
    char **small = malloc(nsmall * sizeof *small);
    char **large = malloc(nlarge * sizeof *large);
    for (size_t i = 0; i < nsmall; i++) {
        small[i] = malloc(SMALL);
        memset(small[i], (int)i, SMALL);
    }
    for (size_t i = 0; i < nlarge; i++) {
        large[i] = malloc(LARGE);
        memset(large[i], (int)i, LARGE);
    }
    printf("trim: peak rss %zu MiB\n", rss() / MiB);
    for (size_t i = 0; i < nsmall; i++)
        free(small[i]);
    for (size_t i = 0; i < nlarge; i++)
        free(large[i]);
    free(small);
    free(large);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "trim";
    size_t start = rss();
    printf("trim: start rss %zu MiB\n", start / MiB);
    if (strcmp(mode, "trim") == 0) {
        churn(NULL);
        size_t released = hak_trim();
        size_t end = rss();
        printf("trim: hak_trim released %zu MiB, rss %zu MiB\n", released / MiB, end / MiB);
        if (released < 16 * MiB) {
            fprintf(stderr, "trim: hak_trim reported only %zu bytes\n", released);
            return 1;
        }
        if (end > start + SLACK) {
            fprintf(stderr, "trim: rss %zu MiB after hak_trim, started at %zu MiB\n", end / MiB,
                    start / MiB);
            return 1;
        }
        return 0;
    }
    /* decay: the freeing thread stays alive but idle. */
    pthread_t th;
    pthread_create(&th, NULL, churn, NULL);
    pthread_join(th, NULL);
    /* A bound, not a timing: the purger gave 1 GiB back in well under a
     * second on an idle machine, and took 4.6 s in a debug build with
     * both cores busy. */
    for (int tenth = 0; tenth < 150; tenth++) {
        usleep(100000);
        size_t now = rss();
        if (now <= start + SLACK) {
            printf("trim: rss %zu MiB after %d ms without any call\n", now / MiB, tenth * 100 + 100);
            return 0;
        }
    }
    fprintf(stderr, "trim: rss %zu MiB 15 s after the frees, started at %zu MiB\n", rss() / MiB,
            start / MiB);
    return 1;
}
