/* hakmem: the backend interface, where SuperSlab and large-span memory
 * comes from.
 *
 * Contract of every backend:
 *   reserve(size, align): size and align are multiples of HAK_PAGE_SIZE,
 *     align a power of two. Returns readable, writable, zero-filled memory
 *     aligned to align, or NULL with errno = ENOMEM. Never calls malloc.
 *   decommit(p, size): the pages stay mapped and usable; their contents
 *     become zero and the OS may reclaim their physical memory.
 *   release(p, size): [p, p + size) was returned by reserve (whole or a
 *     page-aligned part of it); it is unmapped.
 * All three are thread-safe and take no hakmem lock.
 */
#ifndef HAK_BACKEND_H
#define HAK_BACKEND_H

#include <stddef.h>

struct hak_backend_ops {
    const char *name;
    void *(*reserve)(size_t size, size_t align);
    void (*decommit)(void *p, size_t size);
    void (*release)(void *p, size_t size);
};

extern const struct hak_backend_ops _hak_backend_os;

/* The backend in use. Only the os backend exists so far, so calls go to it
 * directly. */
#define HAK_BACKEND (&_hak_backend_os)

#endif /* HAK_BACKEND_H */
