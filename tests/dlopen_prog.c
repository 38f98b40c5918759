/* hakmem test helper for tests/dlopen.sh: loads libhakmem late, the way a
 * plugin host or an interpreter does. The program is not linked with
 * hakmem; it starts a thread and allocates from the C library first, then
 * dlopen()s the library and uses its API through dlsym() from the main
 * thread and from threads started before and after the dlopen.
 *
 * usage: dlopen_prog PATH-TO-libhakmem.so PREFIX (hak_, or the
 * --with-malloc-prefix of the build)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*api_malloc)(size_t);
static void (*api_free)(void *);
static size_t (*api_usable_size)(const void *);

static void *lookup(void *lib, const char *prefix, const char *name)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    void *f = dlsym(lib, full);
    if (f == NULL) {
        fprintf(stderr, "dlopen_prog: no %s: %s\n", full, dlerror());
        exit(1);
    }
    return f;
}

/* Allocates, checks and frees blocks of every size class and some large
 * ones; frees the blocks of *arg (another thread's) on the way. */
static void *churn(void *arg)
{
    enum { N = 2000 };
    void **mine = malloc(N * sizeof *mine);
    for (size_t i = 0; i < N; i++) {
        size_t size = i % 10 == 0 ? 40000 + i : 1 + (i * 37) % 4096;
        mine[i] = api_malloc(size);
        if (mine[i] == NULL || api_usable_size(mine[i]) < size) {
            fprintf(stderr, "dlopen_prog: hakmem malloc(%zu) failed\n", size);
            exit(1);
        }
        memset(mine[i], (int)i, size);
    }
    void **theirs = arg;
    if (theirs != NULL) {
        for (size_t i = 0; i < N; i++)
            api_free(theirs[i]);
        free(theirs);
    }
    return mine;
}

/* Waits in a thread that exists before the library is loaded, so that
 * thread also needs hakmem's TLS once it calls in. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static void *early_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return churn(NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: dlopen_prog LIBRARY PREFIX\n");
        return 2;
    }
    /* Start-up is over: a thread runs and the C library's heap is used. */
    pthread_mutex_lock(&gate);
    pthread_t early;
    pthread_create(&early, NULL, early_thread, NULL);
    free(strdup("before hakmem"));

    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen_prog: dlopen: %s\n", dlerror());
        return 1;
    }
    api_malloc = (void *(*)(size_t))lookup(lib, argv[2], "malloc");
    api_free = (void (*)(void *))lookup(lib, argv[2], "free");
    api_usable_size = (size_t(*)(const void *))lookup(lib, argv[2], "usable_size");
    const char *(*plan)(void) = (const char *(*)(void))lookup(lib, argv[2], "tier_plan");
    int (*heap_check)(void) = (int (*)(void))lookup(lib, argv[2], "heap_check");

    pthread_mutex_unlock(&gate);
    void *blocks = churn(NULL);
    pthread_t late;
    pthread_create(&late, NULL, churn, blocks); /* frees main's blocks */
    void *late_blocks, *early_blocks;
    pthread_join(late, &late_blocks);
    pthread_join(early, &early_blocks);
    void *rest[] = {late_blocks, early_blocks};
    for (int k = 0; k < 2; k++) {
        void **b = rest[k];
        for (size_t i = 0; i < 2000; i++)
            api_free(b[i]);
        free(b);
    }
    int problems = heap_check();
    printf("dlopen_prog: plan %s, heap check %d\n", plan(), problems);
    return problems != 0;
}
