/* hakmem: metadata memory (thread states, map leaves' neighbours, ...).
 *
 * A bump allocator over 1 MiB mappings from the OS, never from the backend
 * in use (backend.h says why). Objects are never freed here; modules that
 * recycle objects keep their own free lists, so an object another thread
 * may still address is never unmapped.
 */
#include "internal.h"

#include <pthread.h>

#include "backend.h"

#define META_CHUNK ((size_t)1 << 20)

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;

void *_hak_meta_alloc(size_t size)
{
    size = (size + 63) & ~(size_t)63;
    if (size > META_CHUNK / 4)
        return _hak_os_map((size + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1), HAK_PAGE_SIZE, 0);
    pthread_mutex_lock(&meta_lock);
    if ((size_t)(meta_end - meta_cur) < size) {
        char *chunk = _hak_os_map(META_CHUNK, HAK_PAGE_SIZE, 0);
        if (chunk == NULL) {
            pthread_mutex_unlock(&meta_lock);
            return NULL;
        }
        meta_cur = chunk;
        meta_end = chunk + META_CHUNK;
    }
    void *p = meta_cur;
    meta_cur += size;
    pthread_mutex_unlock(&meta_lock);
    return p;
}

void _hak_meta_fork_prepare(void) { pthread_mutex_lock(&meta_lock); }
void _hak_meta_fork_parent(void) { pthread_mutex_unlock(&meta_lock); }
void _hak_meta_fork_child(void) { pthread_mutex_unlock(&meta_lock); }
