/* hakmem tests: the purger thread starts safely from inside the allocator.
 *
 * The purger is started the first time something becomes purgeable, and
 * pthread_create allocates (the new thread's DTV) through malloc, that is
 * through hakmem. If that first time comes while hakmem holds a lock the
 * allocation needs, the process deadlocks. Here it comes inside adopt():
 * a thread leaves slabs behind, full of live blocks; main frees every
 * block (remote frees onto the abandoned slabs); a new thread's malloc of
 * the class adopts, finds wholly free slabs and releases them - the first
 * release of the process. The leaver also leaves a live block in every
 * class up to 1 KiB, so whatever class pthread_create's own allocation
 * needs has an abandoned slab to adopt, under the same lock. An alarm
 * turns a deadlock into a failure.
 *
 * Exit 0 = pass. Meaningful with the shim (pthread_create's allocation
 * must reach hakmem) and a decay (the default); passes trivially else. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(void)
{
    alarm(30);
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
