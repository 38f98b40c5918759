/* hakmem: the allocation API: slow paths, calloc/realloc/aligned/usable
 * size, and the hak_* exports.
 *
 * Argument checking (size 0, overflow, alignment) happens here, once, so
 * the tiers never see a request they cannot serve.
 */
#include "alloc.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "hakmem.h"
#include "tier.h"
#include "track.h"

/* Under valgrind every call reaches a slow path (track.h), which hands it
 * to track.c. hakmem is initialised first, so the answer is the one every
 * block handed out has had. Without valgrind support, a constant false
 * even at -O0: track.c is not built then. */
HAK_INLINE bool tracking_after_init(void)
{
    if (hak_unlikely(atomic_load_explicit(&_hak_init_state, memory_order_acquire) != 2))
        _hak_init();
    return HAK_TRACK_ON;
}
#define HAK_TRACKING() (HAK_TRACK_VALGRIND && tracking_after_init())

HAK_NOINLINE void *_hak_alloc_slow(size_t size)
{
    if (HAK_TRACKING())
        return _hak_track_alloc(HAK_ALIGN, size, false);
    return _hak_alloc_class(hak_size_class(size));
}

/* The slow paths hold the decay's start (decay.c) from end to end: the
 * purger thread's pthread_create allocates, and it must find every tier
 * and slab of this thread as a call leaves them, not halfway through. (A
 * remote free that joins its run, which calls nothing, holds nothing.) */
void *_hak_alloc_class(unsigned cls)
{
    bool locked;
    _hak_decay_hold();
    struct hak_thread *t = _hak_thread_get(&locked);
    void *b;
    if (locked) {
        b = _hak_superslab_ops.pop(t, cls);
        _hak_orphan_unlock();
    } else {
        b = _hak_stack_alloc(t, cls);
    }
    _hak_decay_release();
    if (hak_unlikely(b == NULL))
        errno = ENOMEM;
    else
        HAK_DEBUG(_hak_debug_alloc(b));
    return b;
}

HAK_NOINLINE void _hak_free_slow(void *p)
{
    if (HAK_TRACKING()) {
        _hak_track_free(p);
        return;
    }
    _hak_free_block(p);
}

void _hak_free_block(void *p)
{
    bool locked;
    _hak_decay_hold();
    struct hak_thread *t = _hak_thread_get(&locked);
    struct hak_slab *s = _hak_slab_of(p);
    if (locked) {
        /* The orphan heap serves threads that will not come back to flush
         * a remote run: none is left behind. */
        _hak_ss_push_batch(t, &p, 1);
        _hak_ss_run_flush(t);
        _hak_orphan_unlock();
    } else if (!_hak_ss_owns(t, s)) {
        _hak_ss_push_slow(t, s, p);
    } else {
        _hak_stack_free(t, s->cls, p);
    }
    _hak_decay_release();
}

HAK_NOINLINE void *_hak_alloc_large(size_t size)
{
    if (HAK_TRACKING())
        return _hak_track_alloc(HAK_ALIGN, size, false);
    return _hak_large_alloc(size, HAK_ALIGN, false);
}

HAK_COLD void _hak_bad_pointer(const char *fn, const void *p)
{
    char hex[19];
    HAK_MISUSE(fn, p, -1, "pointer not allocated by hakmem, or already freed");
    _hak_write_str("hakmem: ");
    _hak_write_str(fn);
    _hak_write_str("(): pointer ");
    _hak_write_str(_hak_hex(p, hex));
    _hak_write_str(" not allocated by hakmem, or already freed; ignored\n");
}

/* A pointer near the caller's stack pointer: [sp - 4 KiB, sp + 1 MiB)
 * holds the caller's frames and those of its callers. Freeing it would
 * have the C library's allocator write into live stack frames. */
static bool on_stack(const void *p)
{
    char here;
    uintptr_t sp = (uintptr_t)&here, a = (uintptr_t)p;
    return a + 4096 >= sp && a < sp + ((uintptr_t)1 << 20);
}

/* p is in no chunk of hakmem's: the C library's, if it can be. */
static bool foreign_ok(const char *fn, const void *p)
{
    _hak_init();
    if (_hak_libc.free == NULL || on_stack(p)) {
        _hak_bad_pointer(fn, p);
        return false;
    }
    return true;
}

HAK_NOINLINE void _hak_free_other(void *p, uintptr_t entry)
{
    if (HAK_TRACKING()) {
        _hak_track_free(p);
        return;
    }
    if ((entry & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_LARGE && _hak_large_free(p, entry))
        return;
    if (foreign_ok("free", p))
        _hak_libc.free(p);
}

void *_hak_calloc(size_t nmemb, size_t size)
{
    size_t total;
    if (hak_unlikely(__builtin_mul_overflow(nmemb, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (HAK_TRACKING())
        return _hak_track_alloc(HAK_ALIGN, total, true);
    if (total > HAK_SMALL_MAX)
        return _hak_large_alloc(total, HAK_ALIGN, true);
    void *p = _hak_malloc(total);
    if (hak_likely(p != NULL))
        memset(p, 0, total);
    return p;
}

/* Blocks that shrink below half their size move, so a realloc to a small
 * size does not pin a big block. */
static bool fits_in_place(size_t usable, size_t size)
{
    return size <= usable && size >= usable / 2;
}

void *_hak_realloc(void *p, size_t size)
{
    if (HAK_TRACKING())
        return _hak_track_realloc(p, size);
    if (p == NULL)
        return _hak_malloc(size);
    if (size == 0) {
        /* glibc: realloc(p, 0) frees p and returns NULL. */
        _hak_free(p);
        return NULL;
    }
    uintptr_t e = _hak_map_lookup(p);
    size_t usable;
    switch (e & HAK_CHUNK_KIND_MASK) {
    case HAK_CHUNK_SS:
        if (!_hak_block_ok(_hak_slab_of(p), p)) {
            _hak_bad_pointer("realloc", p);
            errno = EINVAL;
            return NULL;
        }
        usable = _hak_slab_of(p)->block_size;
        break;
    case HAK_CHUNK_LARGE:
        switch (_hak_large_check(p, e, &usable)) {
        case HAK_LARGE_OURS:
            if (size > HAK_SMALL_MAX) {
                void *q = _hak_large_resize(e, size);
                if (q != NULL)
                    return q;
            }
            break;
        case HAK_LARGE_BAD:
            _hak_bad_pointer("realloc", p);
            errno = EINVAL;
            return NULL;
        case HAK_LARGE_FOREIGN:
            goto foreign;
        }
        break;
    default:
    foreign:
        if (foreign_ok("realloc", p) && _hak_libc.realloc != NULL)
            return _hak_libc.realloc(p, size);
        errno = EINVAL;
        return NULL;
    }
    if (fits_in_place(usable, size) || (size <= usable && usable <= HAK_ALIGN))
        return p;
    void *q = _hak_malloc(size);
    if (hak_unlikely(q == NULL))
        return NULL;
    memcpy(q, p, size < usable ? size : usable);
    _hak_free(p);
    return q;
}

void *_hak_reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t total;
    if (hak_unlikely(__builtin_mul_overflow(nmemb, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return _hak_realloc(p, total);
}

/* The smallest class at least size whose block size is a multiple of
 * alignment: its blocks are then aligned (slabs are 64 KiB aligned). At
 * most four steps: every fourth class size is a power of two. */
static void *alloc_small_aligned(size_t alignment, size_t size)
{
    unsigned cls = hak_size_class(size > alignment ? size : alignment);
    while (hak_class_size(cls) & (alignment - 1))
        cls++;
    return _hak_malloc(hak_class_size(cls));
}

void *_hak_alloc_aligned(size_t alignment, size_t size)
{
    if (HAK_TRACKING())
        return _hak_track_alloc(alignment, size, false);
    if (alignment <= HAK_ALIGN)
        return _hak_malloc(size);
    if (size <= HAK_SMALL_MAX && alignment <= HAK_SMALL_MAX)
        return alloc_small_aligned(alignment, size);
    return _hak_large_alloc(size, alignment, false);
}

int _hak_posix_memalign(void **memptr, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *p = _hak_alloc_aligned(alignment, size);
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

void *_hak_aligned_alloc(size_t alignment, size_t size)
{
    /* As glibc 2.38 and C17 DR 460: a non-power-of-two alignment fails. */
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return _hak_alloc_aligned(alignment, size);
}

size_t _hak_usable_size(const void *p)
{
    if (HAK_TRACKING())
        return _hak_track_usable_size(p);
    if (p == NULL)
        return 0;
    uintptr_t e = _hak_map_lookup(p);
    if ((e & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_SS)
        return _hak_block_ok(_hak_slab_of(p), p) ? _hak_slab_of(p)->block_size : 0;
    if ((e & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_LARGE) {
        size_t n;
        switch (_hak_large_check(p, e, &n)) {
        case HAK_LARGE_OURS:
            return n;
        case HAK_LARGE_BAD:
            return 0;
        case HAK_LARGE_FOREIGN:
            break;
        }
    }
    _hak_init();
    if (_hak_libc.usable_size != NULL && !on_stack(p))
        return _hak_libc.usable_size((void *)p);
    return 0;
}

/* ---- exports ---- */

HAK_EXPORT void *hak_malloc(size_t size) { return _hak_malloc(size); }
HAK_EXPORT void hak_free(void *p) { _hak_free(p); }
HAK_EXPORT void *hak_calloc(size_t nmemb, size_t size) { return _hak_calloc(nmemb, size); }
HAK_EXPORT void *hak_realloc(void *p, size_t size) { return _hak_realloc(p, size); }
HAK_EXPORT void *hak_reallocarray(void *p, size_t nmemb, size_t size)
{
    return _hak_reallocarray(p, nmemb, size);
}
HAK_EXPORT void *hak_aligned_alloc(size_t alignment, size_t size)
{
    return _hak_aligned_alloc(alignment, size);
}
HAK_EXPORT int hak_posix_memalign(void **memptr, size_t alignment, size_t size)
{
    return _hak_posix_memalign(memptr, alignment, size);
}
HAK_EXPORT size_t hak_usable_size(const void *p) { return _hak_usable_size(p); }
HAK_EXPORT size_t hak_trim(void) { return _hak_thread_trim() + _hak_decay_purge_all(); }
HAK_EXPORT const char *hak_version(void) { return PACKAGE_VERSION; }
HAK_EXPORT const char *hak_tier_plan(void) { return HAK_PLAN_STRING; }
