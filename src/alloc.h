/* hakmem: the malloc and free fast paths, shared by api.c (hak_*) and the
 * shim (malloc & co.) so both compile to the same inlined code.
 *
 * malloc of a small size: one class lookup, the top tier's inline pop,
 * return. free: one bit of the chunk map (which tells our SuperSlabs'
 * pointers from all others without reading them), the block check and the
 * owner test (one line of the slab descriptor), the top tier's inline
 * push. A block of another thread's slab goes back to that slab, not into
 * this thread's caches (superslab.h says why).
 * Everything else is a tail call to an out-of-line slow path.
 */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include "internal.h"
#include "top.h"

void *_hak_alloc_slow(size_t size);

/* p (in a SuperSlab) is the start of a block of a slab in use (a slab
 * out of use has capacity 0, so no offset passes). */
HAK_INLINE bool _hak_block_ok(const struct hak_slab *s, const void *p)
{
    return hak_is_block_start(s->div_inv, s->div_shift, s->capacity,
                              (uint32_t)((uintptr_t)p & (HAK_SLAB_SIZE - 1)));
}
void _hak_free_slow(void *p);
void *_hak_alloc_large(size_t size);
/* The slow paths proper, without the valgrind diversion: a block of class
 * cls from the plan; a SuperSlab block back to it. */
void *_hak_alloc_class(unsigned cls);
void _hak_free_block(void *p);

HAK_INLINE void *_hak_malloc(size_t size)
{
    unsigned cls;
    /* The common sizes first: one compare on their way. */
    if (hak_likely(size <= 1024))
        cls = hak_class_by_step[(size + 15) >> 4];
    else if (size <= HAK_SMALL_MAX)
        cls = hak_size_class(size);
    else
        return _hak_alloc_large(size);
    void *b = HAK_TOP_POP(_hak_tls, cls);
    if (hak_likely(b != NULL)) {
        HAK_DEBUG(_hak_debug_alloc(b));
        return b;
    }
    return _hak_alloc_slow(size);
}

HAK_INLINE void _hak_free(void *p)
{
    if (hak_likely(_hak_is_ss(p))) {
        /* Under valgrind memcheck reports misuse first (track.c). */
        HAK_DEBUG(if (!HAK_TRACK_ON) _hak_debug_free("free", p));
        struct hak_slab *s = _hak_slab_of(p);
        HAK_KEEP(s);
        unsigned cls = s->cls;
        /* Every build refuses what is not the start of a block of a slab in
         * use: an interior pointer, or one into a free slab. (Under valgrind
         * blocks start after a redzone; track.c checks them.) */
        if (hak_unlikely(!_hak_block_ok(s, p)) && !HAK_TRACK_ON) {
            _hak_bad_pointer("free", p);
            return;
        }
        if (hak_likely(HAK_TOP_PUSH(_hak_tls, s, cls, p)))
            return;
        _hak_free_slow(p);
        return;
    }
    if (p != NULL)
        _hak_free_other(p, _hak_map_lookup(p));
}

void *_hak_calloc(size_t nmemb, size_t size);
void *_hak_realloc(void *p, size_t size);
void *_hak_reallocarray(void *p, size_t nmemb, size_t size);
int _hak_posix_memalign(void **memptr, size_t alignment, size_t size);
void *_hak_aligned_alloc(size_t alignment, size_t size);
size_t _hak_usable_size(const void *p);

#endif /* HAK_ALLOC_H */
