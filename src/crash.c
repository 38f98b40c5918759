/* hakmem: the crash handler, in every build.
 *
 * On SIGSEGV, SIGBUS or SIGABRT it writes one report to stderr using only
 * async-signal-safe calls (write, getpid, gettid), then puts back the
 * disposition the program had before hakmem (its own handler, or the
 * default) and raises the signal again, so the program's handler still
 * runs and a core dump and the parent's view of the signal are unchanged.
 * HAKMEM_CRASH_HANDLER=0 leaves the signals alone.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGABRT};
#define NSIG_HANDLED (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction previous[NSIG_HANDLED];
static volatile sig_atomic_t reporting;

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    default: return "SIGABRT";
    }
}

static void crash_report(int sig, const siginfo_t *si)
{
    char num[24], hex[19];
    _hak_write_str("hakmem: caught ");
    _hak_write_str(signal_name(sig));
    if (sig != SIGABRT) {
        _hak_write_str(" at address ");
        _hak_write_str(_hak_hex(si != NULL ? si->si_addr : NULL, hex));
    }
    _hak_write_str(" in thread ");
    _hak_write_str(_hak_utoa((uint64_t)syscall(SYS_gettid), num));
    _hak_write_str(" of process ");
    _hak_write_str(_hak_utoa((uint64_t)getpid(), num));
    _hak_write_str("\nhakmem: version " PACKAGE_VERSION ", plan " HAK_PLAN_STRING ", ");
    _hak_write_str(HAKMEM_BUILD_RELEASE ? "release" : "debug");
    _hak_write_str(" build\n");
#if !HAKMEM_BUILD_RELEASE
    _hak_trace_write(_hak_tls);
#endif
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    size_t i = 0;
    while (i < NSIG_HANDLED && crash_signals[i] != sig)
        i++;
    if (!reporting) {
        reporting = 1;
        crash_report(sig, si);
    }
    /* Hand the signal to whoever had it before us. */
    sigaction(sig, &previous[i], NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

void _hak_crash_install(void)
{
    if (!_hak_opt.crash_handler)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIG_HANDLED; i++)
        sigaction(crash_signals[i], &sa, &previous[i]);
}
