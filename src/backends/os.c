/* hakmem: the os backend: anonymous private mappings from the kernel.
 *
 * Alignment beyond the page size is had by over-mapping size + align and
 * unmapping the slack on both sides, so the kernel keeps no unused pages.
 * Decommit uses MADV_DONTNEED so the resident size really falls (the
 * pages read back as zero).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../backend.h"
#include "../compiler.h"

static void *os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void *os_reserve(size_t size, size_t align)
{
    if (hak_unlikely(size + align < size)) {
        errno = ENOMEM;
        return NULL;
    }
    if (align <= 4096) {
        void *p = os_map(size);
        if (p == NULL)
            errno = ENOMEM;
        return p;
    }
    char *raw = os_map(size + align);
    if (raw == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = align - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

static void os_decommit(void *p, size_t size)
{
    madvise(p, size, MADV_DONTNEED);
}

static void os_release(void *p, size_t size)
{
    munmap(p, size);
}

const struct hak_backend_ops _hak_backend_os = {
    .name = "os",
    .reserve = os_reserve,
    .decommit = os_decommit,
    .release = os_release,
};
