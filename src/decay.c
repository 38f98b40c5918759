/* hakmem: the decay: free memory goes back to the OS after HAKMEM_DECAY_MS
 * without any call from the program, even when every thread that freed it
 * has gone idle.
 *
 * A purger thread, started the first time something becomes purgeable,
 * wakes every half decay while anything waits (free slabs with resident
 * pages, empty SuperSlabs, cached large spans and those threads keep,
 * abandoned slabs emptied by remote frees), gives back what has waited a
 * whole decay, and sleeps on a condition variable when nothing does. It
 * moves no small block: caches (the bounded magazine depot included) are
 * flushed by their threads and by hak_trim(), so the block counts of the
 * statistics never change under a reader's feet. HAKMEM_DECAY_MS=0
 * decommits a slab as soon as it is free and starts no thread. After fork() the child has
 * no purger; the next kick starts one. pthread_create allocates through
 * hakmem, so a kick inside a held section (_hak_decay_hold) puts the start
 * off to the end of the outermost one. Held: every malloc and free slow
 * path from end to end (but a remote free that joins its run, which calls
 * nothing), so the allocation meets the thread's caches and
 * slabs as a call leaves them, never halfway through a batch; and the
 * sections that hold a lock allocation may need (the abandoned-slab lock,
 * the orphan heap).
 *
 * The purger allocates nothing and has no hakmem thread state.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>


static pthread_mutex_t decay_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t decay_cond = PTHREAD_COND_INITIALIZER;
/* Set by a kick, cleared by the purger when nothing waits any more: a
 * kick while it is set costs one atomic load, no lock, no syscall. Set
 * only once the purger has started (a failed start clears it again). */
_Atomic bool _hak_decay_pending;
static _Atomic bool purger_started;
/* The calling thread's _hak_decay_hold depth, and a start it put off. */
__thread unsigned _hak_decay_depth HAK_TLS_MODEL;
__thread bool _hak_decay_start_held HAK_TLS_MODEL;

uint64_t _hak_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t purge(bool all)
{
    uint64_t now = _hak_now_ms();
    return _hak_ss_purge(now, all) + _hak_large_purge(now, all);
}

static void *purger_main(void *arg)
{
    (void)arg;
    uint32_t half_ms = _hak_opt.decay_ms / 2 ? _hak_opt.decay_ms / 2 : 1;
    struct timespec half = {half_ms / 1000, (long)(half_ms % 1000) * 1000000};
    for (;;) {
        pthread_mutex_lock(&decay_lock);
        while (!atomic_load(&_hak_decay_pending))
            pthread_cond_wait(&decay_cond, &decay_lock);
        pthread_mutex_unlock(&decay_lock);
        nanosleep(&half, NULL);
        purge(false);
        if (!_hak_ss_dirty() && !_hak_large_dirty()) {
            atomic_store(&_hak_decay_pending, false);
            /* A kick between the look and the store set pending to true,
             * which this store erased: look once more, after the store
             * (the kick's light fence pairs with this one). Without the
             * fence the look proves nothing, and the purger stays awake. */
            if (!_hak_fence_heavy() || _hak_ss_dirty() || _hak_large_dirty())
                atomic_store(&_hak_decay_pending, true);
        }
    }
    return NULL;
}

static void purger_start(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* The program's signals are not the purger's to take. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    if (pthread_create(&th, &attr, purger_main, NULL) != 0) {
        /* Try again at the next kick, which looks at pending first: a
         * kick that saw the start under way may have set it. */
        atomic_store(&purger_started, false);
        atomic_store(&_hak_decay_pending, false);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

void _hak_decay_wake(void)
{
    if (!atomic_load_explicit(&purger_started, memory_order_relaxed)) {
        if (_hak_decay_depth != 0) {
            _hak_decay_start_held = true;
            return;
        }
        if (!atomic_exchange(&purger_started, true))
            purger_start();
        if (!atomic_load(&purger_started))
            return;                             /* the next kick tries again */
    }
    if (atomic_exchange(&_hak_decay_pending, true))
        return;
    /* A start that failed meanwhile cleared pending before this set it:
     * no purger is pending, and the next kick must try again. */
    if (!atomic_load(&purger_started)) {
        atomic_store(&_hak_decay_pending, false);
        return;
    }
    pthread_mutex_lock(&decay_lock);
    pthread_cond_signal(&decay_cond);
    pthread_mutex_unlock(&decay_lock);
}

void _hak_decay_start_now(void)
{
    _hak_decay_start_held = false;
    _hak_decay_kick();
}

size_t _hak_decay_purge_all(void)
{
    return purge(true);
}

void _hak_decay_fork_child(void)
{
    pthread_mutex_init(&decay_lock, NULL);
    pthread_cond_init(&decay_cond, NULL);
    atomic_store(&_hak_decay_pending, false);
    atomic_store(&purger_started, false);
}
