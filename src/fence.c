/* hakmem: asymmetric fences.
 *
 * Some state has an owner that changes it often and a visitor that looks
 * at it rarely (a thread's kept large spans and the purger that takes
 * them, large.c; the purger's pending flag and the kicks that set it,
 * decay.c). Each side stores, then loads what the other stores: that needs
 * a StoreLoad fence on both sides, which on x86 waits for every store the
 * thread has in flight. With membarrier(2)'s PRIVATE_EXPEDITED command
 * the visitor's side does the fence for both: it makes every running
 * thread of the process execute a full barrier, so the owner's side needs
 * only to keep the compiler from reordering (_hak_fence_light).
 *
 * Invariants:
 *   - _hak_fence_asym is set once, at initialisation, before any thread
 *     but the first can run hakmem's code, and only after the process is
 *     registered for the command; it is never set again but in a fork
 *     child, which has one thread.
 *   - A light fence pairs with a heavy one: wherever an owner's side uses
 *     _hak_fence_light, its visitor's side uses _hak_fence_heavy, and acts
 *     on what it loads only when that returns true.
 *   - Without the command (old kernels or headers, seccomp filters) both
 *     sides are seq_cst fences, which is always correct.
 *   - A command that fails after the registration (a seccomp filter the
 *     program installs later; not ENOMEM, which may pass) fails every
 *     heavy fence from then on, with no further syscall
 *     (_hak_fence_failed): owners still use light fences, so no visitor
 *     may trust a plain fence in its place, and a filter may count or
 *     punish each call.
 *   - No call changes errno: the program's free and hak_trim run them.
 */
#include "internal.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#if HAVE_LINUX_MEMBARRIER_H && defined(SYS_membarrier)
#include <linux/membarrier.h>

/* The command's result, or -errno where it is missing or refused; errno
 * is left as it was. */
static long membarrier_run(int cmd)
{
    int saved = errno;
    long r = syscall(SYS_membarrier, cmd, 0, 0);
    if (r < 0)
        r = -(long)errno;
    errno = saved;
    return r;
}

static bool membarrier_register(void)
{
    long cmds = membarrier_run(MEMBARRIER_CMD_QUERY);
    return cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
           membarrier_run(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

/* 0 if the barrier was made, else the errno of the command. */
static int membarrier_fence(void) { return (int)-membarrier_run(MEMBARRIER_CMD_PRIVATE_EXPEDITED); }
#else
static bool membarrier_register(void) { return false; }
static int membarrier_fence(void) { return ENOSYS; }
#endif

bool _hak_fence_asym;
_Atomic bool _hak_fence_failed;

void _hak_fence_init(void) { _hak_fence_asym = membarrier_register(); }

bool _hak_fence_heavy(void)
{
    if (!_hak_fence_asym) {
        atomic_thread_fence(memory_order_seq_cst);
        return true;
    }
    if (atomic_load_explicit(&_hak_fence_failed, memory_order_relaxed))
        return false;
    int err = membarrier_fence();
    if (err == 0)
        return true;
    /* ENOMEM (the kernel's cpumask) may pass. */
    if (err != ENOMEM && !atomic_exchange_explicit(&_hak_fence_failed, true, memory_order_relaxed))
        HAK_LOG("hakmem: membarrier failed after registration: threads stop keeping large spans");
    return false;
}

/* The child has one thread, so no owner is between its store and its load:
 * it may switch to plain fences, and does if the registration did not
 * carry over (Linux keeps it across fork) or the parent's command failed
 * for good (without asking again), which mends that failure. */
void _hak_fence_fork_child(void)
{
    if (_hak_fence_asym && (atomic_load_explicit(&_hak_fence_failed, memory_order_relaxed) ||
                            membarrier_fence() != 0))
        _hak_fence_asym = false;
    atomic_store_explicit(&_hak_fence_failed, false, memory_order_relaxed);
}
