/* hakmem: diagnostics. In a release build (HAKMEM_BUILD_RELEASE=1, the
 * default) every macro here compiles to nothing, so neither the code nor
 * the message strings are in the library. `./configure --enable-debug`
 * turns them on.
 *
 *   HAK_ASSERT(cond)             internal invariant; abort with file:line
 *   HAK_LOG(fmt, ...)            a line on stderr (write(2), no stdio)
 *   HAK_TRACE(t, ev, cls, p)     an event in the thread's trace ring
 *   HAK_MISUSE(fn, p, cls, why)  heap misuse by the program: report, abort
 *   HAK_DEBUG(stmt)              a statement only debug builds run
 *
 * The crash handler (crash.c) is not a diagnostic: it is in every build.
 */
#ifndef HAK_DIAG_H
#define HAK_DIAG_H

#include "config.h"

enum hak_trace_event {
    HAK_EV_ALLOC = 1,
    HAK_EV_FREE,
    HAK_EV_REFILL,
    HAK_EV_SPILL,
    HAK_EV_REMOTE_PUSH,
    HAK_EV_DRAIN,
    HAK_EV_ADOPT,
};

#if HAKMEM_BUILD_RELEASE

#define HAK_ASSERT(cond) ((void)0)
#define HAK_LOG(...) ((void)0)
#define HAK_TRACE(t, ev, cls, p) ((void)sizeof(t)) /* t: often only for the trace */
#define HAK_MISUSE(fn, p, cls, why) ((void)0)
#define HAK_DEBUG(stmt) ((void)0)

#else

struct hak_thread;
struct hak_slab;
void _hak_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void _hak_assert_fail(const char *expr, const char *file, int line, const char *fn);
_Noreturn void _hak_misuse(const char *fn, const void *p, int cls, const char *why);
void _hak_trace(struct hak_thread *t, int ev, unsigned cls, const void *p);
void _hak_trace_write(const struct hak_thread *t);
/* The live-bitmap checks of debug.c. */
void _hak_debug_alloc(void *p);
void _hak_debug_free(const char *fn, void *p);
void _hak_debug_check_link(const char *where, unsigned cls, const void *next);
void _hak_debug_slab_check(const char *where, struct hak_slab *s);

#define HAK_ASSERT(cond)                                                                       \
    (__builtin_expect(!!(cond), 1) ? (void)0                                                   \
                                   : _hak_assert_fail(#cond, __FILE__, __LINE__, __func__))
#define HAK_LOG(...) _hak_log(__VA_ARGS__)
#define HAK_TRACE(t, ev, cls, p) _hak_trace((t), (ev), (cls), (p))
#define HAK_MISUSE(fn, p, cls, why) _hak_misuse((fn), (p), (int)(cls), (why))
#define HAK_DEBUG(stmt)                                                                        \
    do {                                                                                       \
        stmt;                                                                                  \
    } while (0)

#endif

#endif /* HAK_DIAG_H */
