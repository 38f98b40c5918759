/* hakmem tests: the purger thread starts safely from inside the allocator.
 *
 * The purger is started the first time something becomes purgeable, and
 * pthread_create allocates (the new thread's DTV) through malloc, that is
 * through hakmem. That first time can come in the middle of an allocator
 * operation; each scenario below makes it come at one such place, in a
 * process of its own (a forked child, where no purger runs yet).
 *
 * adopt: a thread leaves slabs behind, full of live blocks; main frees
 * every block (remote frees onto the abandoned slabs); a new thread's
 * malloc of the class adopts, finds wholly free slabs and releases them -
 * the first release of the process - holding the abandoned-slab lock. The
 * leaver also leaves a live block in every class up to 1 KiB, so whatever
 * class pthread_create's own allocation needs has an abandoned slab to
 * adopt, under the same lock. An alarm turns a deadlock into a failure.
 *
 * remote: a producer fills slabs and stays alive; a consumer that has
 * allocated nothing frees every block. The push of its remote run that
 * brings back a slab's last blocks gives the slab back - the first release
 * - and pthread_create then allocates in the consumer, in the middle of
 * that push, with empty caches: down to the slab tier, which flushes the
 * consumer's run before it adopts a slab (a thread that exited left one
 * of every class up to 1 KiB). The run must not go back a second time (it
 * did: onto the slab now in the pool, or, with another thread quick to
 * take that slab, onto its next life, whose blocks were then handed out
 * twice). hak_heap_check() sees a free slab with a remote queue.
 *
 * Exit 0 = pass. Meaningful with the shim (pthread_create's allocation
 * must reach hakmem) and a decay (the default); passes trivially else. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "hak_alloc.h"

#define SIZE 64
#define N 4096          /* four slabs' worth of 64-byte blocks */

static void *blocks[N];
static void *keep[64];                  /* one block of each 16-byte step to 1 KiB */

static void *leaver(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++)
        if ((blocks[i] = malloc(SIZE)) == NULL)
            abort();
    for (int k = 0; k < 64; k++)
        if ((keep[k] = malloc(16 * (size_t)(k + 1))) == NULL)
            abort();
    return NULL;        /* exits holding every block: its slabs are abandoned */
}

static void *adopter(void *arg)
{
    (void)arg;
    void *p = malloc(SIZE);
    free(p);
    return p;
}

static int adopt_scenario(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, leaver, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    void *r = NULL;
    if (pthread_create(&t, NULL, adopter, NULL) != 0 || pthread_join(t, &r) != 0 || r == NULL)
        return 1;
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    if (hak_heap_check() != 0)
        return 1;
    puts("decay_start: the first slab release, inside an adoption, started the purger");
    return 0;
}

#define BIG 7168                        /* 9 blocks per slab */
#define NBIG 64
static unsigned char *big[NBIG];
static pthread_barrier_t produced, consumed;

static void *keeper(void *arg)
{
    (void)arg;
    for (int k = 0; k < 64; k++)
        if ((keep[k] = malloc(16 * (size_t)(k + 1))) == NULL)
            abort();
    return NULL;        /* exits holding them: a slab of each class to adopt */
}

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < NBIG; i++) {
        if ((big[i] = malloc(BIG)) == NULL)
            abort();
        memset(big[i], i, BIG);
    }
    pthread_barrier_wait(&produced);
    pthread_barrier_wait(&consumed);    /* alive, owning the slabs */
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < NBIG; i++)
        free(big[i]);
    return NULL;
}

static int remote_scenario(void)
{
    pthread_t p, c;
    pthread_barrier_init(&produced, NULL, 2);
    pthread_barrier_init(&consumed, NULL, 2);
    if (pthread_create(&p, NULL, keeper, NULL) != 0 || pthread_join(p, NULL) != 0)
        return 1;
    if (pthread_create(&p, NULL, producer, NULL) != 0)
        return 1;
    pthread_barrier_wait(&produced);
    if (pthread_create(&c, NULL, consumer, NULL) != 0 || pthread_join(c, NULL) != 0)
        return 1;
    if (hak_heap_check() != 0)
        return 1;
    /* Blocks handed out twice would show here: every block gets its own
     * pattern, then each is checked. */
    for (int i = 0; i < NBIG; i++) {
        if ((big[i] = malloc(BIG)) == NULL)
            return 1;
        memset(big[i], i, BIG);
    }
    for (int i = 0; i < NBIG; i++)
        for (size_t k = 0; k < BIG; k += 512)
            if (big[i][k] != (unsigned char)i) {
                fprintf(stderr, "decay_start: block %p handed out twice\n", (void *)big[i]);
                return 1;
            }
    for (int i = 0; i < NBIG; i++)
        free(big[i]);
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    pthread_barrier_wait(&consumed);
    if (pthread_join(p, NULL) != 0 || hak_heap_check() != 0)
        return 1;
    puts("decay_start: the first slab release, inside a remote push, started the purger");
    return 0;
}

int main(void)
{
    int (*const scenarios[])(void) = {adopt_scenario, remote_scenario};
    int failed = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            alarm(30);
            _exit(scenarios[i]());
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "decay_start: scenario %zu failed (status %#x)\n", i, status);
            failed = 1;
        }
    }
    return failed;
}
