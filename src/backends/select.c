/* hakmem: which backend serves the process (backend.h).
 *
 * _hak_backend is os from the start, so anything reserved before init.c
 * chooses has a backend, and is set at most once, by _hak_init before it
 * publishes its completion: every thread that reaches a backend call after
 * initialisation reads the final value (the acquire load of the init
 * state orders it). So a region goes back to the backend that reserved it,
 * with one exception: a thread that allocates while another initialises
 * is served by the orphan heap, and a SuperSlab it creates then comes from
 * os. The arena hands such regions back to os (arena.c); hugepage's calls
 * work on any mapping (only its counters are then off by that region).
 */
#include "config.h"

#include <stddef.h>

#include "../backend.h"

const struct hak_backend_ops *const _hak_backends[] = {
    &_hak_backend_os,
#if HAK_HAVE_BACKEND_HUGEPAGE
    &_hak_backend_hugepage,
#endif
#if HAK_HAVE_BACKEND_ARENA
    &_hak_backend_arena,
#endif
    NULL,
};

_Atomic(const struct hak_backend_ops *) _hak_backend = &_hak_backend_os;

bool _hak_backend_use(const struct hak_backend_ops *b)
{
    if (!b->init())
        return false;
    atomic_store_explicit(&_hak_backend, b, memory_order_release);
    return true;
}
