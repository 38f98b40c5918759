/* hakmem tests: out of memory.
 *
 * Each scenario runs in a child process whose address space is capped
 * (RLIMIT_AS) at what it already uses plus HEADROOM. There:
 *   - malloc, calloc, realloc, posix_memalign and aligned_alloc of more
 *     than is left return NULL (posix_memalign: ENOMEM) with errno ENOMEM,
 *     whether the request is large or small and the small classes are
 *     exhausted;
 *   - a realloc that fails leaves the old block as it was, and usable;
 *   - once the blocks are freed, allocation works again, up to requests
 *     as large as most of what was freed.
 * A crash, a hang (the child's alarm) or a wrong result fails the
 * scenario. Exit 0 = every scenario passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"
#include "hak_alloc.h"

#define MiB ((size_t)1 << 20)
#define HEADROOM (64 * MiB)
#define TOO_MUCH (2 * HEADROOM)
#define CHILD_ALARM 60

/* Reports the first problem of a scenario and ends its child. */
static void fail(const char *what, size_t a, int err)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "  %s (%zu; errno %d: %s)\n", what, a, err, strerror(err));
    write(2, buf, (size_t)n);
    _exit(1);
}

#define EXPECT(cond, what, a)                                                                  \
    do {                                                                                       \
        if (!(cond))                                                                           \
            fail((what), (size_t)(a), errno);                                                  \
    } while (0)

/* The current size of the address space, from /proc (no allocation). */
static size_t address_space(void)
{
    char buf[64] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
        fail("cannot read /proc/self/statm", 0, errno);
    close(fd);
    return (size_t)strtoull(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static void cap_address_space(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = address_space() + HEADROOM;
    EXPECT(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS)", rl.rlim_cur);
}

/* Under AddressSanitizer a thread's first call maps its fake stack (0.7
 * MiB, for detect_stack_use_after_return). hakmem's purger, started by the
 * free of the large block below, may first run after the cap, when the
 * scenario has taken every byte: ASan then aborts the child. So under ASan
 * the child waits until the purger has given that block's span back, which
 * it does only once it runs. */
#if defined(__SANITIZE_ADDRESS__)
#define HAK_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAK_TEST_ASAN 1
#endif
#endif
#ifndef HAK_TEST_ASAN
#define HAK_TEST_ASAN 0
#endif

static void purger_ran(void)
{
    struct hak_stats st;
    for (int waited_ms = 0; waited_ms < 30000; waited_ms += 10) {
        EXPECT(hak_stats_get(&st, sizeof st) == 0, "hak_stats_get", 0);
        if (st.large_cached_spans == 0)
            return;
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
    fail("the purger did not give the freed span back in 30 s", st.large_cached_spans, 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 13);
}

static bool filled(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 13))
            return false;
    return true;
}

/* Every way of asking for n bytes fails with ENOMEM. */
static void all_fail(size_t n)
{
    errno = 0;
    EXPECT(malloc(n) == NULL && errno == ENOMEM, "malloc did not fail with ENOMEM", n);
    errno = 0;
    EXPECT(calloc(1, n) == NULL && errno == ENOMEM, "calloc did not fail with ENOMEM", n);
    errno = 0;
    EXPECT(realloc(NULL, n) == NULL && errno == ENOMEM, "realloc(NULL) did not fail with ENOMEM",
           n);
    void *p = &p;
    EXPECT(posix_memalign(&p, 64, n) == ENOMEM && p == &p,
           "posix_memalign did not fail with ENOMEM, *memptr untouched", n);
    errno = 0;
    EXPECT(aligned_alloc(4096, n) == NULL && errno == ENOMEM,
           "aligned_alloc did not fail with ENOMEM", n);
}

/* Allocates blocks of `size` until hakmem says no; returns them as a list
 * linked through their first word. Must stop with ENOMEM, within limit. */
static void *exhaust(size_t size, void *list, size_t *count)
{
    for (size_t n = 0;; n++) {
        errno = 0;
        void **p = malloc(size);
        if (p == NULL) {
            EXPECT(errno == ENOMEM, "malloc failed without ENOMEM", size);
            *count += n;
            return list;
        }
        EXPECT(n <= (HEADROOM + 16 * MiB) / size, "malloc went on past the address-space cap", size);
        *p = list;
        list = p;
    }
}

static void free_list(void *list)
{
    while (list != NULL) {
        void *next = *(void **)list;
        free(list);
        list = next;
    }
}

/* After the program freed what it had, memory is there again: most of
 * the headroom as one large block, and as much in small blocks (in either
 * order: whatever hakmem still caches of the freed blocks must not stand
 * in the way), then a block of every small class. */
#define AGAIN (HEADROOM / 4 * 3)
static void again_large(void)
{
    void *big = malloc(AGAIN);
    EXPECT(big != NULL, "after freeing everything, a large malloc fails", AGAIN);
    fill(big, AGAIN, 1);
    free(big);
}

static void again_small(void)
{
    void *list = NULL;
    for (size_t n = 0; n < AGAIN / 32768; n++) {
        void **p = malloc(32768);
        EXPECT(p != NULL, "after freeing everything, small mallocs fail after", n * 32768);
        *p = list;
        list = p;
    }
    free_list(list);
}

static void works_again(bool small_first)
{
    if (small_first)
        again_small();
    again_large();
    if (!small_first)
        again_small();
    for (size_t s = 16; s <= 32768; s *= 2) {
        void *p = malloc(s);
        EXPECT(p != NULL, "after freeing everything, a small malloc fails", s);
        free(p);
    }
}

/* ---- scenarios ---- */

static void large_requests_fail(void)
{
    all_fail(TOO_MUCH);
    /* More than the headroom and the 1 MiB span cached before the cap,
     * which may grow in place into the headroom. */
    all_fail(HEADROOM + 4 * MiB);
    works_again(false);
}

static void realloc_failure_keeps_block(void)
{
    static const size_t sizes[] = {24, 1000, 32768, 100000, 3 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t s = sizes[i];
        unsigned char *p = malloc(s);
        EXPECT(p != NULL, "malloc failed", s);
        fill(p, s, (unsigned)i);
        errno = 0;
        EXPECT(realloc(p, TOO_MUCH) == NULL && errno == ENOMEM,
               "realloc to too much did not fail with ENOMEM", s);
        EXPECT(filled(p, s, (unsigned)i), "failed realloc changed the block", s);
        EXPECT(malloc_usable_size(p) >= s, "failed realloc shrank the block", s);
        errno = 0;
        EXPECT(reallocarray(p, TOO_MUCH, 2) == NULL && errno == ENOMEM,
               "reallocarray to too much did not fail with ENOMEM", s);
        EXPECT(filled(p, s, (unsigned)i), "failed reallocarray changed the block", s);
        unsigned char *q = realloc(p, s + 100);   /* still usable */
        EXPECT(q != NULL && filled(q, s, (unsigned)i), "realloc after a failed one", s);
        free(q);
    }
    works_again(false);
}

/* Every small class exhausted (no slab with room, no SuperSlab to map),
 * then each kind of small request fails too. */
static void small_classes_exhausted(void)
{
    void *list = NULL;
    size_t count = 0;
    for (size_t s = 32768; s >= 16; s /= 2)
        list = exhaust(s, list, &count);
    EXPECT(count > HEADROOM / 2 / 32768, "exhausted after too few blocks", count);
    for (size_t s = 16; s <= 32768; s *= 2)
        all_fail(s);
    all_fail(TOO_MUCH);
    free_list(list);
    works_again(false);
}

/* The address space filled with large blocks, all freed, then requests
 * bigger than any of them, and small ones. */
static void large_blocks_exhausted(size_t size, bool small_first)
{
    size_t count = 0;
    void *list = exhaust(size, NULL, &count);
    EXPECT(count >= HEADROOM / (2 * size + 2 * MiB), "exhausted after too few blocks", count);
    all_fail(size);
    free_list(list);
    works_again(small_first);
}

static void mib_blocks_exhausted(void) { large_blocks_exhausted(MiB, false); }
static void four_mib_blocks_exhausted(void) { large_blocks_exhausted(4 * MiB, true); }

/* Small and large alternately, as a program would, until neither fits. */
static void mixed_exhausted(void)
{
    void *list = NULL;
    size_t count = 0;
    for (int round = 0; round < 64; round++)
        list = exhaust(round % 2 ? 3000 : 300000, list, &count);
    all_fail(300000);
    free_list(list);
    works_again(false);
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"large requests fail with ENOMEM", large_requests_fail},
    {"realloc failure keeps the block", realloc_failure_keeps_block},
    {"small classes exhausted", small_classes_exhausted},
    {"1 MiB blocks exhausted, then a larger block", mib_blocks_exhausted},
    {"4 MiB blocks exhausted, then small blocks", four_mib_blocks_exhausted},
    {"small and large exhausted", mixed_exhausted},
};

int main(void)
{
    /* Not under memcheck (make check-valgrind sets HAK_MEMCHECK): RLIMIT_AS then limits valgrind's own address space. */
    if (getenv("HAK_MEMCHECK") != NULL)
        return 77;
    int failed = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("oom: fork");
            return 1;
        }
        if (pid == 0) {
            alarm(CHILD_ALARM);
            /* Set up hakmem's state (map leaves, thread state) before the
             * cap, so the scenario starts from a running program. */
            free(malloc(64));
            free(malloc(MiB));
            if (HAK_TEST_ASAN)
                purger_ran();
            cap_address_space();
            scenarios[i].run();
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && WIFSIGNALED(status))
            fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                    WTERMSIG(status) == SIGALRM ? " (hang)" : "");
        printf("%s: %s\n", ok ? "PASS" : "FAIL", scenarios[i].name);
        failed += !ok;
    }
    return failed != 0;
}
