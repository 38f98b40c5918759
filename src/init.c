/* hakmem: process-wide initialisation: run-time options, the thread-exit
 * key, fork handlers, and the C library's own allocator for pointers that
 * are not ours.
 *
 * Initialisation runs once, at the first slow path of the first thread.
 * Nothing in it allocates through malloc. While it runs, other threads
 * wait, and the initialising thread itself (should anything it calls
 * allocate) is served by the orphan heap, which needs no initialisation.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "tier.h"
#include "track.h"

_Atomic int _hak_init_state;
struct hak_options _hak_opt;
struct hak_libc_malloc _hak_libc;
bool _hak_track_on;

/* Weak: a static program has no dynamic linker to ask, and then no other
 * allocator whose pointers could reach us. */
extern void *dlvsym(void *handle, const char *symbol, const char *version) __attribute__((weak));

/* Run-time knobs. A malformed value keeps the default and says so once. */
struct option_desc {
    const char *name;
    uint32_t *value;
    uint32_t def;
    uint32_t max;
};

static void option_read(const struct option_desc *o)
{
    *o->value = o->def;
    const char *s = secure_getenv(o->name);
    if (s == NULL)
        return;
    uint64_t v;
    if (_hak_parse_size(s, false, &v) && v <= o->max) {
        *o->value = (uint32_t)v;
        return;
    }
    char num[24];
    _hak_write_str("hakmem: ignoring malformed ");
    _hak_write_str(o->name);
    _hak_write_str("; using the default ");
    _hak_write_str(_hak_utoa(o->def, num));
    _hak_write_str("\n");
}

/* Whether s is one of the backends configure knows, compiled in or not. */
static bool backend_known(const char *s)
{
    size_t n = strlen(s);
    for (const char *t = HAK_BACKEND_NAMES; n > 0; t += 2) {
        if (strncmp(t, s, n) == 0 && (t[n] == ',' || t[n] == '\0'))
            return true;
        if ((t = strchr(t, ',')) == NULL)
            break;
    }
    return false;
}

/* HAKMEM_BACKEND, before anything is reserved: a region goes back to the
 * backend that reserved it. HAKMEM_ARENA_SIZE is read only for the arena. */
static void backend_init(void)
{
    _hak_opt.arena_size = HAK_DEFAULT_ARENA_SIZE;
    const char *s = secure_getenv("HAKMEM_BACKEND");
    if (s == NULL)
        return;
    const struct hak_backend_ops *b = NULL;
    for (size_t i = 0; _hak_backends[i] != NULL; i++)
        if (strcmp(s, _hak_backends[i]->name) == 0)
            b = _hak_backends[i];
    if (b == NULL) {
        if (backend_known(s)) {
            _hak_write_str("hakmem: HAKMEM_BACKEND=");
            _hak_write_str(s);
            _hak_write_str(" is not compiled in (this build has " HAK_BACKENDS_STRING
                           "); using the default os\n");
        } else {
            _hak_write_str("hakmem: ignoring malformed HAKMEM_BACKEND (" HAK_BACKEND_NAMES
                           "); using the default os\n");
        }
        return;
    }
    uint64_t v;
    if (strcmp(b->name, "arena") == 0 && (s = secure_getenv("HAKMEM_ARENA_SIZE")) != NULL) {
        if (_hak_parse_size(s, true, &v) && v >= HAK_SS_SIZE && v <= HAK_ARENA_SIZE_MAX)
            _hak_opt.arena_size = v;
        else
            _hak_write_str("hakmem: ignoring malformed HAKMEM_ARENA_SIZE (2M to 1024G, suffix k, "
                           "m or g); using the default 4G\n");
    }
    _hak_backend_use(b);
}

static void options_init(void)
{
    backend_init();
    /* First, as it changes defaults below: under valgrind, annotate for
     * memcheck (track.h) unless HAKMEM_VALGRIND=0, which runs the fast
     * paths as without valgrind (for callgrind or cachegrind profiles). */
    uint32_t valgrind;
    option_read(&(struct option_desc){"HAKMEM_VALGRIND", &valgrind, 1, 1});
    _hak_track_on = valgrind && hak_track_running();
    /* Under valgrind the cache tiers are off unless their knob is set:
     * when a freed block is reused is then the quarantine's doing alone
     * (track.c), oldest first, not also a cache's, newest first. */
    const bool on = !HAK_TRACK_ON;
    const struct option_desc opts[] = {
        {"HAKMEM_TINY_FAST_CAP", &_hak_opt.fast_cap, on ? HAK_DEFAULT_FAST_CAP : 0,
         HAK_FAST_CAP_MAX},
        {"HAKMEM_TINY_ULTRA", &_hak_opt.ultra, on, 1},
        {"HAKMEM_TINY_ULTRA_CAP", &_hak_opt.ultra_cap, HAK_DEFAULT_ULTRA_CAP, 65535},
        {"HAKMEM_TINY_TLS_LIST", &_hak_opt.tls_list, on, 1},
        {"HAKMEM_TINY_TLS_LIST_CAP", &_hak_opt.tls_list_cap, HAK_DEFAULT_TLS_LIST_CAP, 65535},
        {"HAKMEM_MAG_CAP", &_hak_opt.mag_cap, on ? HAK_DEFAULT_MAG_CAP : 0, HAK_MAG_CAP_MAX},
        {"HAKMEM_MAG_DEPOT", &_hak_opt.mag_depot, HAK_DEFAULT_MAG_DEPOT, 65535},
        {"HAKMEM_TINY_TRACE_RING", &_hak_opt.trace, 0, 1},
        {"HAKMEM_CRASH_HANDLER", &_hak_opt.crash_handler, 1, 1},
        {"HAKMEM_DECAY_MS", &_hak_opt.decay_ms, HAK_DEFAULT_DECAY_MS, 3600000},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        option_read(&opts[i]);
    /* HAKMEM_STATS: 0, 1 (text) or json, printed to stderr at exit. */
    const char *s = secure_getenv("HAKMEM_STATS");
    if (s != NULL) {
        if (strcmp(s, "json") == 0)
            _hak_opt.stats = 2;
        else if (strcmp(s, "1") == 0 || strcmp(s, "0") == 0)
            _hak_opt.stats = s[0] == '1';
        else
            _hak_write_str("hakmem: ignoring malformed HAKMEM_STATS (0, 1 or json); using the "
                           "default 0\n");
    }
}

/* Defined by the shim (src/shim/override.c) when it is linked in. */
extern const char _hak_shim_linked __attribute__((weak));

static void libc_init(void)
{
    if (&_hak_shim_linked == NULL) {
        /* Without the shim (--with-malloc-prefix, --disable-override),
         * free & co. are the program's own allocator (the C library's, or
         * a sanitizer's): where a pointer not ours came from. */
        _hak_libc.free = free;
        _hak_libc.realloc = realloc;
        _hak_libc.usable_size = malloc_usable_size;
        return;
    }
    if (dlvsym == NULL)
        return;
    _hak_libc.free = (void (*)(void *))dlvsym(RTLD_NEXT, "free", "GLIBC_2.2.5");
    _hak_libc.realloc = (void *(*)(void *, size_t))dlvsym(RTLD_NEXT, "realloc", "GLIBC_2.2.5");
    _hak_libc.usable_size =
        (size_t(*)(void *))dlvsym(RTLD_NEXT, "malloc_usable_size", "GLIBC_2.2.5");
}

/* fork(): take every lock in a fixed order so the child inherits none held
 * by a thread that does not exist there. */
static void fork_prepare(void)
{
    _hak_stack_fork(HAK_FORK_PREPARE);
    _hak_thread_fork_prepare();
    _hak_ss_fork_prepare();
    _hak_large_fork_prepare();
    _hak_meta_fork_prepare();
    if (HAK_BACKEND->fork != NULL)
        HAK_BACKEND->fork(HAK_FORK_PREPARE);
}

static void fork_parent(void)
{
    if (HAK_BACKEND->fork != NULL)
        HAK_BACKEND->fork(HAK_FORK_PARENT);
    _hak_meta_fork_parent();
    _hak_large_fork_parent();
    _hak_ss_fork_parent();
    _hak_thread_fork_parent();
    _hak_stack_fork(HAK_FORK_PARENT);
}

static void fork_child(void)
{
    if (HAK_BACKEND->fork != NULL)
        HAK_BACKEND->fork(HAK_FORK_CHILD);
    _hak_meta_fork_child();
    _hak_large_fork_child();
    _hak_ss_fork_child();
    _hak_thread_fork_child();
    _hak_stack_fork(HAK_FORK_CHILD);
    _hak_decay_fork_child();
    _hak_fence_fork_child();
}

static __thread int init_running_here;

void _hak_init(void)
{
    if (hak_likely(atomic_load_explicit(&_hak_init_state, memory_order_acquire) == 2))
        return;
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&_hak_init_state, &expected, 1,
                                                memory_order_acq_rel, memory_order_acquire)) {
        init_running_here = 1;
        _hak_class_div_init();
        _hak_fence_init();
        options_init();
        _hak_crash_install();
        _hak_thread_global_init();
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        libc_init();
        init_running_here = 0;
        atomic_store_explicit(&_hak_init_state, 2, memory_order_release);
        return;
    }
    if (init_running_here)
        return;
    while (atomic_load_explicit(&_hak_init_state, memory_order_acquire) != 2)
        sched_yield();
}

/* Initialise when the library is loaded, so the crash handler is in place
 * even in a program that never allocates. */
__attribute__((constructor)) static void init_at_load(void)
{
    _hak_init();
}
