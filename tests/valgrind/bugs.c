/* hakmem tests: programs with one seeded memory bug each, for memcheck;
 * tests/valgrind/run.py runs them under valgrind and checks that memcheck
 * reports that bug, and nothing else.
 *
 * usage: bugs CASE    (CASE: see `cases` below)
 *
 * Built three ways, as a program can use hakmem:
 *   bugs_hak      calls hak_malloc & co., linked to libhakmem.so;
 *   bugs_preload  calls malloc & co., linked to nothing of hakmem's and
 *                 run with libhakmem.so in LD_PRELOAD;
 *   bugs_static   calls malloc & co., with hakmem linked into the program.
 * Each first checks that its allocator is hakmem, so a run where valgrind
 * replaced it with its own (no --soname-synonyms) fails instead of
 * passing without testing hakmem. Exit 0 unless that check fails (3).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#if BUGS_HAK
#define API(name) hak_##name
#define malloc_usable_size hak_usable_size
#else
#include <malloc.h>
#define API(name) name
#endif

#if BUGS_PRELOAD
#include <dlfcn.h>
#endif

/* Called through pointers the compiler cannot see through, so it neither
 * removes a seeded bug nor reasons about malloc as a builtin. */
static void *(*volatile M)(size_t) = API(malloc);
static void *(*volatile C)(size_t, size_t) = API(calloc);
static void *(*volatile R)(void *, size_t) = API(realloc);
static void (*volatile F)(void *) = API(free);
static void *(*volatile A)(size_t, size_t) = API(aligned_alloc);
static int (*volatile PM)(void **, size_t, size_t) = API(posix_memalign);

static void *launder(void *p)
{
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

static size_t live_small_blocks(void)
{
#if BUGS_PRELOAD
    int (*get)(struct hak_stats *, size_t) =
        (int (*)(struct hak_stats *, size_t))dlsym(RTLD_DEFAULT, "hak_stats_get");
    if (get == NULL) {
        fprintf(stderr, "bugs: hak_stats_get not found: is libhakmem.so preloaded?\n");
        exit(3);
    }
#else
    int (*get)(struct hak_stats *, size_t) = hak_stats_get;
#endif
    struct hak_stats st;
    get(&st, sizeof st);
    return st.live_small_blocks;
}

static void check_allocator_is_hakmem(void)
{
    size_t before = live_small_blocks();
    void *p = M(1);
    size_t after = live_small_blocks();
    F(p);
    if (after != before + 1) {
        fprintf(stderr, "bugs: malloc is not hakmem's (under valgrind, pass "
                        "--soname-synonyms=somalloc=nouserintercepts)\n");
        exit(3);
    }
}

/* ---- the seeded bugs ---- */

static void overflow(void)
{
    char *p = M(10);
    memset(p, 'x', 10);
    p[10] = 'y';                                /* one byte past the end */
    F(p);
}

static void underflow(void)
{
    char *p = M(40);
    memset(p, 'x', 40);
    ((char *)launder(p))[-1] = 'y';            /* one byte before the start */
    F(p);
}

static void overflow_large(void)
{
    size_t n = 100000;
    char *p = M(n);
    memset(p, 'x', n);
    p[n] = 'y';
    F(p);
}

static void read_after_free(void)
{
    volatile char *p = M(32);
    memset((char *)p, 'x', 32);
    F((char *)p);
    /* The next block of the size must not be this one again. */
    char *q = M(32);
    memset(q, 'z', 32);
    if (p[3] == 'x')                            /* the block is freed */
        puts("read after free");
    F(q);
}

static void double_free(void)
{
    char *p = M(48);
    memset(p, 'x', 48);
    F(p);
    F(launder(p));
}

static void invalid_free(void)
{
    char *p = M(32);
    memset(p, 'x', 32);
    F((char *)launder(p) + 8);                 /* not the start of the block */
    F(p);
}

static void invalid_free_stack(void)
{
    char local[32];
    memset(local, 'x', sizeof local);
    F(launder(local));                          /* never allocated */
}

static __attribute__((noinline)) void lose(size_t n)
{
    char *p = M(n);
    memset(p, 'x', n);
    launder(p);
}

static void leak(void)
{
    lose(100);
    /* Overwrites what the call left in registers and on the stack. */
    char *q = M(100);
    memset(q, 0, 100);
    F(q);
}

static void uninitialised(void)
{
    volatile char *p = M(16);
    if (p[3] == 'x')                            /* never written */
        puts("uninitialised");
    F((char *)p);
}

static void realloc_freed(void)
{
    char *p = M(40);
    memset(p, 'x', 40);
    F(p);
    char *q = R(launder(p), 64);
    if (q != NULL)
        F(q);
}

/* ---- programs without a bug: memcheck must report nothing ---- */

/* Every entry point, small and large, with each block used exactly up to
 * the size asked for (or the usable size, which may be used too). */
static void clean(void)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4096, 32768 - 16, 32768, 40000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *p = M(n);
        size_t u = malloc_usable_size(p);
        if (u < n)
            abort();
        memset(p, 'a', u);
        char *z = C(1, n);
        for (size_t k = 0; k < n; k++)
            if (z[k] != 0)
                abort();
        p = R(p, n * 2 + 8);                    /* moves or grows in place */
        for (size_t k = 0; k < u; k++)
            if (p[k] != 'a')
                abort();
        memset(p, 'b', n * 2 + 8);
        p = R(p, n / 3);                        /* shrinks */
        if (n / 3 > 0 && p[n / 3 - 1] != 'b')
            abort();
        void *a = A(64, n + 1), *m = NULL;
        if (a == NULL || (uintptr_t)a % 64 != 0 || PM(&m, 4096, n) != 0 || (uintptr_t)m % 4096)
            abort();
        memset(a, 'c', n + 1);
        memset(m, 'd', n);
        F(a);
        F(m);
        F(z);
        F(p);
    }
    F(NULL);
    char *s = M(6);
    strcpy(s, "hello");
    puts(s);
    F(s);
}

#define THREADS 4
#define ROUNDS 300
#define SLOTS 64

static char *shared[THREADS][SLOTS];
static pthread_barrier_t barrier;

/* Each thread fills its row, then frees the row of its neighbour (remote
 * frees into slabs another thread owns), twice; the last row is freed by
 * main after every thread has exited (abandoned slabs). */
static void *worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < SLOTS; i++) {
            size_t n = 8 + (size_t)((me * 131 + (unsigned)i * 37 + (unsigned)round) % 700);
            if (i % 16 == 0)
                n += 50000;
            shared[me][i] = M(n);
            memset(shared[me][i], (int)me, n);
        }
        for (int r = 0; r < ROUNDS; r++) {
            char *p = C(1, 24 + (size_t)r % 200);
            p = R(p, 300 + (size_t)r % 900);
            F(p);
        }
        pthread_barrier_wait(&barrier);
        if (round == 0) {
            unsigned next = (me + 1) % THREADS;
            for (int i = 0; i < SLOTS; i++) {
                F(shared[next][i]);
                shared[next][i] = NULL;
            }
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

static void clean_threads(void)
{
    pthread_t tid[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (unsigned i = 0; i < THREADS; i++)
        if (pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i) != 0)
            abort();
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (unsigned t = 0; t < THREADS; t++)
        for (int i = 0; i < SLOTS; i++)
            F(shared[t][i]);
}

static const struct {
    const char *name;
    void (*run)(void);
} cases[] = {
    {"clean", clean},
    {"clean-threads", clean_threads},
    {"overflow", overflow},
    {"underflow", underflow},
    {"overflow-large", overflow_large},
    {"read-after-free", read_after_free},
    {"double-free", double_free},
    {"invalid-free", invalid_free},
    {"invalid-free-stack", invalid_free_stack},
    {"leak", leak},
    {"uninitialised", uninitialised},
    {"realloc-freed", realloc_freed},
};

int main(int argc, char **argv)
{
    for (size_t i = 0; argc == 2 && i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            check_allocator_is_hakmem();
            cases[i].run();
            return 0;
        }
    }
    fprintf(stderr, "usage: bugs CASE; cases:");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fprintf(stderr, " %s", cases[i].name);
    fputc('\n', stderr);
    return 2;
}
