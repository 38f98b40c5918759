/* hakmem: the malloc and free fast paths, shared by api.c (hak_*) and the
 * shim (malloc & co.) so both compile to the same inlined code.
 *
 * malloc of a small size: one class computation, the top tier's inline
 * pop, return. free: one chunk-map lookup (which also tells foreign
 * pointers from ours without reading them), the top tier's inline push.
 * Everything else is a tail call to an out-of-line slow path.
 */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include "internal.h"
#include "top.h"

void *_hak_alloc_slow(size_t size);
void _hak_free_slow(void *p);
void *_hak_alloc_large(size_t size);
/* The slow paths proper, without the valgrind diversion: a block of class
 * cls from the plan; a SuperSlab block back to it. */
void *_hak_alloc_class(unsigned cls);
void _hak_free_block(void *p);

HAK_INLINE void *_hak_malloc(size_t size)
{
    if (hak_likely(size <= HAK_SMALL_MAX)) {
        unsigned cls = hak_size_class(size);
        void *b = HAK_TOP_POP(_hak_tls, cls);
        if (hak_likely(b != NULL)) {
            HAK_DEBUG(_hak_debug_alloc(b));
            return b;
        }
        return _hak_alloc_slow(size);
    }
    return _hak_alloc_large(size);
}

HAK_INLINE void _hak_free(void *p)
{
    uintptr_t e = _hak_map_lookup(p);
    if (hak_likely((e & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_SS)) {
        /* Under valgrind memcheck reports misuse first (track.c). */
        HAK_DEBUG(if (!HAK_TRACK_ON) _hak_debug_free("free", p));
        if (hak_likely(HAK_TOP_PUSH(_hak_tls, p)))
            return;
        _hak_free_slow(p);
        return;
    }
    if (p != NULL)
        _hak_free_other(p, e);
}

void *_hak_calloc(size_t nmemb, size_t size);
void *_hak_realloc(void *p, size_t size);
void *_hak_reallocarray(void *p, size_t nmemb, size_t size);
int _hak_posix_memalign(void **memptr, size_t alignment, size_t size);
void *_hak_aligned_alloc(size_t alignment, size_t size);
size_t _hak_usable_size(const void *p);

#endif /* HAK_ALLOC_H */
