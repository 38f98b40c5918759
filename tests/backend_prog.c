/* hakmem tests: the backends through the malloc API (malloc here is
 * hakmem); tests/backends.sh runs each case with the environment it needs.
 *
 *   show       prints "backend NAME MODE LIMIT" for the backend in use
 *   json, text the statistics (hak_stats_print_json, hak_stats_print)
 *   arena      with HAKMEM_BACKEND=arena HAKMEM_ARENA_SIZE=64M: small
 *              blocks, then 1 MiB blocks, exhaust the arena (NULL and
 *              ENOMEM from every allocation function, the failed realloc's
 *              block intact), and every time the heap recovers after frees,
 *              across kinds: memory small blocks gave back serves large
 *              ones and the other way round
 *   hugepage   with HAKMEM_BACKEND=hugepage: a heap of small blocks and a
 *              large block, touched; in thp mode smaps must show
 *              AnonHugePages in the heap's mappings, in hugetlb mode
 *              Private_Hugetlb
 *   fork       threads churn large and small blocks while the main thread
 *              forks; each child allocates and exits (no lock is inherited
 *              held, the backend's included)
 *
 * Exit 0 = pass; otherwise a message on stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "hakmem.h"
#include "internal.h"

#define MiB ((size_t)1 << 20)

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("backend_prog: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _Exit(EXIT_FAILURE);
}

static struct hak_backend_stats backend_stats(void)
{
    struct hak_backend_stats st;
    HAK_BACKEND->stats(&st);
    return st;
}

/* ------------------------------------------------------------ arena */

#define MAX_BLOCKS 200000
#define SMALL 1000
static void *blocks[MAX_BLOCKS];

/* What a heap that recovered must hold again: all but a little, as the
 * allocator's own threads (a purger, say) may have taken a slab or a
 * chunk meanwhile. */
static void expect_recovered(const char *what, size_t now, size_t first, size_t slack)
{
    if (now + slack < first)
        fail("%s: %zu fitted after recovering, %zu the first time", what, now, first);
}

/* Allocates size-byte blocks until malloc fails; returns how many. */
static size_t exhaust(size_t size)
{
    size_t n = 0;
    errno = 0;
    while (n < MAX_BLOCKS && (blocks[n] = malloc(size)) != NULL) {
        memset(blocks[n], (int)(n & 0xff), size < 4096 ? size : 4096);
        n++;
    }
    if (n == MAX_BLOCKS)
        fail("%zu blocks of %zu bytes and the arena is not full", n, size);
    if (errno != ENOMEM)
        fail("malloc(%zu) failed with errno %d, not ENOMEM", size, errno);
    return n;
}

static void free_all(size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    hak_trim();
}

static void expect_enomem(const char *what, bool failed)
{
    if (!failed || errno != ENOMEM)
        fail("%s with the arena full: %s (errno %d)", what, failed ? "failed" : "succeeded",
             errno);
    errno = 0;
}

static int arena(void)
{
    struct hak_backend_stats st = backend_stats();
    if (strcmp(HAK_BACKEND->name, "arena") != 0 || st.limit_bytes != 64 * MiB)
        fail("run with HAKMEM_BACKEND=arena HAKMEM_ARENA_SIZE=64M (backend %s, limit %zu)",
             HAK_BACKEND->name, st.limit_bytes);

    size_t small = exhaust(SMALL);
    st = backend_stats();
    if (st.reserved_bytes + HAK_SS_SIZE <= st.limit_bytes)
        fail("malloc failed with %zu of %zu arena bytes free", st.limit_bytes - st.reserved_bytes,
             st.limit_bytes);
    expect_enomem("malloc(1 MiB)", malloc(MiB) == NULL);
    expect_enomem("calloc(1, 1 MiB)", calloc(1, MiB) == NULL);
    void *q = NULL;
    errno = 0;
    if (posix_memalign(&q, 4 * MiB, 100) != ENOMEM || q != NULL)
        fail("posix_memalign(4 MiB alignment) with the arena full did not return ENOMEM");
    unsigned char *b0 = blocks[0];
    expect_enomem("realloc(p, 1 MiB)", realloc(b0, MiB) == NULL);
    for (size_t i = 0; i < SMALL; i++)
        if (b0[i] != 0)
            fail("the block of a failed realloc changed at byte %zu", i);

    free_all(small);
    st = backend_stats();
    if (st.reserved_bytes > HAK_SS_SIZE)
        fail("%zu arena bytes still reserved after every block was freed and trimmed",
             st.reserved_bytes);
    size_t again = exhaust(SMALL);
    expect_recovered("small blocks", again, small, small / 100);
    free_all(again);

    /* Large blocks take whole chunks: a 64 MiB arena holds 32 of them. */
    size_t large = exhaust(MiB);
    if (large < 30)
        fail("only %zu 1 MiB blocks fitted in 64 MiB", large);
    free_all(large);
    again = exhaust(MiB);
    expect_recovered("1 MiB blocks", again, large, 1);
    /* Freed but cached spans must not starve small blocks: the SuperSlab
     * tier takes them back from the cache when the arena is full. */
    for (size_t i = 0; i < again; i++)
        free(blocks[i]);
    size_t mixed = exhaust(SMALL);
    expect_recovered("small blocks after large ones were freed", mixed, small, small / 100);
    free_all(mixed);
    /* The one empty SuperSlab the tier keeps may split the arena, but one
     * side has at least 16 free chunks. */
    void *big = malloc(30 * MiB);
    if (big == NULL)
        fail("a 30 MiB block does not fit in the recovered arena");
    free(big);
    if (hak_heap_check() != 0)
        fail("heap check found problems");
    printf("arena: 64 MiB held %zu blocks of %d bytes, %zu of 1 MiB; recovered each time\n",
           small, SMALL, large);
    return EXIT_SUCCESS;
}

/* ------------------------------------------------------------ hugepage */

/* Sums field (e.g. "AnonHugePages:") in kB over the mappings of
 * /proc/self/smaps that hold one of the n addresses. */
static long smaps_kb(const char *field, void *const *addrs, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL)
        fail("cannot read /proc/self/smaps");
    char line[256];
    bool in = false;
    long total = 0, kb;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            in = false;
            for (size_t i = 0; i < n; i++)
                in |= (uintptr_t)addrs[i] >= lo && (uintptr_t)addrs[i] < hi;
        } else if (in && strncmp(line, field, len) == 0 && sscanf(line + len, "%ld", &kb) == 1) {
            total += kb;
        }
    }
    fclose(f);
    return total;
}

static int hugepage(void)
{
    if (strcmp(HAK_BACKEND->name, "hugepage") != 0)
        fail("run with HAKMEM_BACKEND=hugepage (backend %s)", HAK_BACKEND->name);
    const char *mode = backend_stats().mode;
    /* 64 MiB of 64-byte blocks, each written, and one large block. */
    size_t n = 64 * MiB / 64;
    void *probe[64];
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(64);
        if (p == NULL)
            fail("malloc(64) failed");
        memset(p, 1, 64);
        if (i % (n / 63) == 0)
            probe[i / (n / 63)] = p;
    }
    char *large = malloc(32 * MiB);
    if (large == NULL)
        fail("malloc(32 MiB) failed");
    memset(large, 2, 32 * MiB);
    probe[63] = large;
    long anon = smaps_kb("AnonHugePages:", probe, 64);
    long tlb = smaps_kb("Private_Hugetlb:", probe, 64);
    printf("hugepage: mode %s; heap mappings: AnonHugePages %ld kB, Private_Hugetlb %ld kB\n",
           mode, anon, tlb);
    if (strcmp(mode, "thp") == 0 && anon < 64 * 1024)
        fail("thp mode, but only %ld kB of the heap is on huge pages", anon);
    if (strcmp(mode, "hugetlb") == 0 && tlb < 2048)
        fail("hugetlb mode, but no hugetlb page in the heap");
    return EXIT_SUCCESS;
}

/* ------------------------------------------------------------ fork */

#define FORKS 40
static atomic_bool stop;

static void *churn(void *arg)
{
    size_t size = (size_t)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        void *p = malloc(size);
        if (p == NULL)
            fail("malloc(%zu) failed while forking", size);
        memset(p, 3, size < 64 ? size : 64);
        free(p);
        hak_trim();
    }
    return NULL;
}

static int forks(void)
{
    pthread_t t[3];
    size_t sizes[3] = {3 * MiB, 100000, 48};
    for (int i = 0; i < 3; i++)
        if (pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)sizes[i]) != 0)
            fail("pthread_create failed");
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid < 0)
            fail("fork failed");
        if (pid == 0) {
            void *a = malloc(3 * MiB), *b = malloc(48);
            _exit(a != NULL && b != NULL ? 0 : 1);
        }
        int status;
        alarm(30);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("child %d did not allocate and exit cleanly", i);
        alarm(0);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("fork: %d forks while 3 threads allocated\n", FORKS);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "show") == 0) {
        struct hak_backend_stats st = backend_stats();
        printf("backend %s %s %zu\n", HAK_BACKEND->name, st.mode, st.limit_bytes);
        return EXIT_SUCCESS;
    }
    if (strcmp(what, "json") == 0 || strcmp(what, "text") == 0) {
        (what[0] == 'j' ? hak_stats_print_json : hak_stats_print)(stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(what, "arena") == 0)
        return arena();
    if (strcmp(what, "hugepage") == 0)
        return hugepage();
    if (strcmp(what, "fork") == 0)
        return forks();
    fail("usage: %s show|json|text|arena|hugepage|fork", argv[0]);
}
