/* hakmem tests: fork under load.
 *
 * NTHREADS threads allocate and free without pause (every small class,
 * large and aligned blocks, half of the frees through a shared exchange
 * so another thread makes them) while one more thread forks NFORKS times,
 * each time waiting for the child. A child, a copy of the forking thread
 * alone, taken while the others were anywhere inside hakmem:
 *   - checks and frees the blocks the forking thread made before, and the
 *     blocks waiting in the exchange (blocks of threads that do not exist
 *     in the child, freed into slabs whose owners are gone);
 *   - allocates and frees through every path (small, large, aligned,
 *     calloc, realloc), trims, reads the statistics, and starts a thread
 *     that allocates: between them these take every lock hakmem has;
 *   - exits through exit(), destructors and all.
 * Each child has an alarm, so one that deadlocks dies by SIGALRM and the
 * test fails at once; a watchdog fails the whole test if it stops making
 * progress. At the end the parent's heap must pass hak_heap_check().
 *
 * usage: fork [forks]   (default NFORKS). Exit 0 = pass. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "hak_alloc.h"
#include "quick.h"

#define NTHREADS 8
#define NFORKS 200
#define SLOTS 256               /* live blocks per churning thread */
#define EXCHANGE 64             /* blocks in flight between threads */
#define INHERITED 64            /* blocks the forking thread holds across fork */
#define CHILD_OPS 2000
#define CHILD_ALARM 30          /* seconds a child may take */
#define WATCHDOG 60             /* seconds without a finished fork */

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
/* LeakSanitizer's scan at exit, in a child of this multi-threaded process,
 * looks for the parent's threads (gone in the child) and warns about each,
 * in every child. It sees only the C library's heap anyway, not hakmem's
 * memory. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }
#endif

static void fail(const char *msg, long a, long b)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "fork: FAIL: %s (%ld, %ld)\n", msg, a, b);
    write(2, buf, (size_t)n);
    _exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "fork: FAIL: watchdog: no fork finished in time (hang?)\n";
    write(2, msg, sizeof msg - 1);
    _exit(1);
}

/* ------------------------------------------------------------ blocks */

/* A block says what it is: its size in the first word, then a pattern
 * derived from its address. Only the first and last CHECKED bytes are
 * written and checked, so large blocks cost no more than small ones. */
#define CHECKED 64

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static unsigned char pat(const unsigned char *p, size_t i)
{
    return (unsigned char)(((uintptr_t)p >> 4) * 31 + i * 7);
}

static void mark(unsigned char *p, size_t size)
{
    memcpy(p, &size, sizeof size);
    for (size_t i = sizeof size; i < size && i < CHECKED; i++)
        p[i] = pat(p, i);
    for (size_t i = size > CHECKED ? size - CHECKED : size; i < size; i++)
        if (i >= sizeof size)
            p[i] = pat(p, i);
}

static bool intact(const unsigned char *p)
{
    size_t size;
    memcpy(&size, p, sizeof size);
    if (size < sizeof size || size > ((size_t)1 << 24) || malloc_usable_size((void *)p) < size)
        return false;
    for (size_t i = sizeof size; i < size && i < CHECKED; i++)
        if (p[i] != pat(p, i))
            return false;
    for (size_t i = size > CHECKED ? size - CHECKED : size; i < size; i++)
        if (i >= sizeof size && p[i] != pat(p, i))
            return false;
    return true;
}

static void check_free(unsigned char *p, const char *who)
{
    if (!intact(p))
        fail(who, (long)(uintptr_t)p, 0);
    free(p);
}

/* Mostly small, some large, some with a larger alignment. */
static unsigned char *block_new(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    size_t size;
    void *p;
    switch (r % 32) {
    case 0:
        size = 32769 + (r >> 8) % 300000;
        p = malloc(size);
        break;
    case 1: {
        size_t align = (size_t)64 << ((r >> 8) % 7); /* 64 .. 4096 */
        size = sizeof(size_t) + (r >> 16) % 5000;
        if (posix_memalign(&p, align, size) != 0)
            p = NULL;
        else if ((uintptr_t)p % align != 0)
            fail("posix_memalign: misaligned", (long)(uintptr_t)p, (long)align);
        break;
    }
    default:
        size = sizeof(size_t) + (r >> 8) % 1024;
        p = malloc(size);
        break;
    }
    if (p == NULL)
        fail("allocation failed", (long)size, errno);
    mark(p, size);
    return p;
}

/* ------------------------------------------------------------ the parent */

static _Atomic(unsigned char *) exchange[EXCHANGE];
static atomic_bool stop;

static void *churn(void *arg)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    unsigned char *slot[SLOTS] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = rng_next(&rng);
        unsigned char **s = &slot[r % SLOTS];
        if (*s == NULL) {
            *s = block_new(&rng);
        } else if ((r >> 20) & 1) {
            /* Hand it over; free what the last thread left there. */
            unsigned char *q = atomic_exchange(&exchange[(r >> 24) % EXCHANGE], *s);
            *s = NULL;
            if (q != NULL)
                check_free(q, "exchanged block corrupted");
        } else {
            check_free(*s, "block corrupted");
            *s = NULL;
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (slot[i] != NULL)
            check_free(slot[i], "block corrupted at the end");
    return NULL;
}

/* ------------------------------------------------------------ the child */

static void *child_thread(void *arg)
{
    uint64_t rng = (uintptr_t)arg | 1;
    for (int i = 0; i < 200; i++)
        check_free(block_new(&rng), "child thread: block corrupted");
    return NULL;
}

static int child_main(unsigned char **inherited, unsigned n, uint64_t seed)
{
    alarm(CHILD_ALARM);
    for (unsigned i = 0; i < n; i++)
        check_free(inherited[i], "child: inherited block corrupted");
    for (unsigned i = 0; i < EXCHANGE; i++) {
        unsigned char *q = atomic_exchange(&exchange[i], NULL);
        if (q != NULL)
            check_free(q, "child: exchanged block corrupted");
    }
    uint64_t rng = seed | 1;
    unsigned char *live[32] = {0};
    for (unsigned op = 0; op < CHILD_OPS; op++) {
        unsigned char **s = &live[rng_next(&rng) % 32];
        if (*s != NULL) {
            check_free(*s, "child: block corrupted");
            *s = NULL;
        } else {
            *s = block_new(&rng);
        }
    }
    for (unsigned i = 0; i < 32; i++)
        if (live[i] != NULL)
            check_free(live[i], "child: block corrupted");
    unsigned char *z = calloc(1000, 3);
    if (z == NULL)
        fail("child: calloc failed", errno, 0);
    for (size_t i = 0; i < 3000; i++)
        if (z[i] != 0)
            fail("child: calloc not zeroed", (long)i, z[i]);
    unsigned char *g = realloc(z, 200000);  /* small to large */
    if (g == NULL)
        fail("child: realloc failed", errno, 0);
    free(g);
    hak_trim();
    struct hak_stats st;
    if (hak_stats_get(&st, sizeof st) != 0)
        fail("child: hak_stats_get failed", 0, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, child_thread, (void *)(uintptr_t)seed) != 0 ||
        pthread_join(th, NULL) != 0)
        fail("child: thread failed", 0, 0);
    return 0;
}

static void *forker(void *arg)
{
    unsigned forks = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x5eed;
    unsigned char *inherited[INHERITED];
    for (unsigned f = 0; f < forks; f++) {
        /* Fresh blocks each time, so the child's copies are of blocks in
         * this thread's current slabs and caches. */
        for (unsigned i = 0; i < INHERITED; i++)
            inherited[i] = block_new(&rng);
        pid_t pid = fork();
        if (pid < 0)
            fail("fork failed", errno, f);
        if (pid == 0)
            exit(child_main(inherited, INHERITED, rng_next(&rng)));
        int status;
        if (waitpid(pid, &status, 0) != pid)
            fail("waitpid failed", errno, f);
        if (WIFSIGNALED(status))
            fail(WTERMSIG(status) == SIGALRM ? "child hung (killed by its alarm) at fork"
                                             : "child killed by a signal at fork",
                 (long)f, WTERMSIG(status));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("child failed at fork", (long)f, WEXITSTATUS(status));
        for (unsigned i = 0; i < INHERITED; i++)
            check_free(inherited[i], "parent: block changed across fork");
        alarm(WATCHDOG);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    /* Not under memcheck (make check-valgrind sets HAK_MEMCHECK): children that exit holding blocks are leaks to memcheck. */
    if (getenv("HAK_MEMCHECK") != NULL)
        return 77;
    /* tools/test-all runs this plan-independent test in the default build. */
    if (hak_test_quick())
        return 77;
    unsigned forks = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : NFORKS;
    signal(SIGALRM, on_alarm);
    alarm(WATCHDOG);
    pthread_t th[NTHREADS], f;
    for (uintptr_t i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, churn, (void *)i) != 0)
            fail("pthread_create failed", (long)i, 0);
    if (pthread_create(&f, NULL, forker, (void *)(uintptr_t)forks) != 0)
        fail("pthread_create failed", NTHREADS, 0);
    pthread_join(f, NULL);
    atomic_store(&stop, true);
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    for (unsigned i = 0; i < EXCHANGE; i++) {
        unsigned char *q = atomic_exchange(&exchange[i], NULL);
        if (q != NULL)
            check_free(q, "exchanged block corrupted at the end");
    }
    int problems = hak_heap_check();
    if (problems != 0)
        fail("hak_heap_check found problems", problems, 0);
    printf("fork: %u forks while %d threads allocated: ok\n", forks, NTHREADS);
    return 0;
}
