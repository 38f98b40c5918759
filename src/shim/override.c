/* hakmem: the malloc family under the C library's names, so a program
 * runs on hakmem through LD_PRELOAD or by linking libhakmem.
 *
 * Semantics are glibc's (see README, "API"): errno = ENOMEM on failure,
 * malloc(0) returns a unique pointer, realloc(p, 0) frees p and returns
 * NULL, memalign/valloc/pvalloc round as glibc does. glibc's __libc_*
 * entry points are deliberately not overridden: glibc's own code calls
 * the public names (it supports replacing exactly these), and __libc_free
 * stays glibc's so a pointer its allocator handed out can be given back
 * to it.
 */
#include "../alloc.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

/* Tells init.c that malloc & co. are these: pointers that are not
 * hakmem's then belong to the allocator after us (RTLD_NEXT). */
const char _hak_shim_linked __attribute__((visibility("hidden"))) = 1;

/* Removed from glibc's headers in 2.26, still exported for old binaries. */
void cfree(void *p);

HAK_EXPORT void *malloc(size_t size) { return _hak_malloc(size); }
HAK_EXPORT void free(void *p) { _hak_free(p); }
HAK_EXPORT void cfree(void *p) { _hak_free(p); }
HAK_EXPORT void *calloc(size_t nmemb, size_t size) { return _hak_calloc(nmemb, size); }
HAK_EXPORT void *realloc(void *p, size_t size) { return _hak_realloc(p, size); }
HAK_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    return _hak_reallocarray(p, nmemb, size);
}
HAK_EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size)
{
    return _hak_posix_memalign(memptr, alignment, size);
}
HAK_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    return _hak_aligned_alloc(alignment, size);
}

/* glibc: an alignment that is not a power of two is rounded up to one;
 * below the minimum alignment is the minimum. */
HAK_EXPORT void *memalign(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = HAK_ALIGN;
    while (a < alignment)
        a <<= 1;
    return _hak_alloc_aligned(a, size);
}

HAK_EXPORT void *valloc(size_t size) { return _hak_alloc_aligned(HAK_PAGE_SIZE, size); }

/* glibc: the size is rounded up to whole pages (pvalloc(0) = one page). */
HAK_EXPORT void *pvalloc(size_t size)
{
    size_t rounded = (size + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return _hak_alloc_aligned(HAK_PAGE_SIZE, rounded ? rounded : HAK_PAGE_SIZE);
}

HAK_EXPORT size_t malloc_usable_size(void *p) { return _hak_usable_size(p); }

HAK_EXPORT int malloc_trim(size_t pad)
{
    (void)pad;
    return _hak_thread_trim() + _hak_decay_purge_all() > 0;
}
