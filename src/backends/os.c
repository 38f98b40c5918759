/* hakmem: the os backend: anonymous private mappings from the kernel, one
 * per region. The default, and the fallback of every other backend.
 *
 * Alignment beyond what the kernel guarantees is asked for first with a
 * hint: the next address of a range (32..64 TiB) that the kernel's
 * top-down placement leaves alone, handed out in increasing order, so the
 * region comes back aligned from one mmap (as mimalloc does). Where the
 * hint is not honoured (the range is taken, or the address space is
 * smaller, or a sanitizer owns it) the region is had by over-mapping
 * size + align and unmapping the slack on both sides, so the kernel keeps
 * no unused pages; after HINT_MISSES such misses hints are not tried
 * again. A reservation is then one system call instead of three, and a
 * large span's first and last page tables are not split. Decommit uses MADV_DONTNEED so the resident size really
 * falls (the pages read back as zero, and refault on touch, so commit has
 * nothing to do but count).
 *
 * Resize and move are mremap's: the kernel moves page-table entries, so a
 * large span grows, shrinks or changes address without its pages being
 * copied or faulted in again.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../backend.h"
#include "../compiler.h"
#include "../types.h"

static struct hak_backend_counters os_count;

#define HINT_BASE ((uintptr_t)32 << 40)
#define HINT_END ((uintptr_t)64 << 40)
#define HINT_MISSES 8

static _Atomic uintptr_t hint_next = HINT_BASE;
static _Atomic unsigned hint_misses;

/* size bytes aligned to align at the next hint, or NULL (nothing mapped). */
static void *map_at_hint(size_t size, size_t align, int flags)
{
    if (atomic_load_explicit(&hint_misses, memory_order_relaxed) >= HINT_MISSES ||
        size > HINT_END - HINT_BASE || align > HINT_END - HINT_BASE)
        return NULL;
    /* Room for size rounded up to align, and for the rounding of the start
     * when align exceeds the step every other reservation keeps (2 MiB). */
    size_t step = ((size + align - 1) & ~(align - 1)) + (align > HAK_SS_SIZE ? align : 0);
    uintptr_t at = atomic_fetch_add_explicit(&hint_next, step, memory_order_relaxed);
    if (at < HINT_BASE || at > HINT_END - step) {
        /* Past the end: start again from the base, whose early regions
         * are likely given back by now; this one is over-mapped. */
        atomic_store_explicit(&hint_next, HINT_BASE, memory_order_relaxed);
        return NULL;
    }
    at = (at + align - 1) & ~(uintptr_t)(align - 1);
    void *p = mmap((void *)at, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (((uintptr_t)p & (align - 1)) == 0)
        return p;
    munmap(p, size);
    atomic_fetch_add_explicit(&hint_misses, 1, memory_order_relaxed);
    return NULL;
}

void *_hak_os_map(size_t size, size_t align, int flags)
{
    size_t natural = (flags & MAP_HUGETLB) ? HAK_SS_SIZE : HAK_PAGE_SIZE;
    flags |= MAP_PRIVATE | MAP_ANONYMOUS;
    if (align <= natural) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p != MAP_FAILED)
            return p;
        errno = ENOMEM;
        return NULL;
    }
    if (hak_unlikely(size + align < size)) {
        errno = ENOMEM;
        return NULL;
    }
    void *hinted = map_at_hint(size, align, flags);
    if (hinted != NULL)
        return hinted;
    void *m = mmap(NULL, size + align, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (m == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    char *raw = m;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = align - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

void _hak_os_unmap(void *p, size_t size)
{
    munmap(p, size);
}

bool _hak_os_resize(void *p, size_t old_size, size_t new_size)
{
    if (new_size < old_size)
        return munmap((char *)p + new_size, old_size - new_size) == 0;
    return new_size == old_size || mremap(p, old_size, new_size, 0) != MAP_FAILED;
}

bool _hak_os_move(void *dst, size_t dst_size, void *src, size_t size)
{
    if (mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED)
        return true;
    /* Refused (src split by the program's mprotect, say). The kernel may
     * have unmapped [dst, dst + size) first: if that hole is still empty
     * it is taken back and dst goes whole; if something is there, it is
     * either still dst's head or a mapping made meanwhile by another
     * thread, which must not be unmapped: the head is left as it is. */
    void *again = mmap(dst, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (again == dst) {
        munmap(dst, dst_size);
        return false;
    }
    if (again != MAP_FAILED)                    /* a kernel that took the address as a hint */
        munmap(again, size);
    if (dst_size > size)
        munmap((char *)dst + size, dst_size - size);
    return false;
}

static bool os_init(void)
{
    return true;
}

static void *os_reserve(size_t size, size_t align)
{
    void *p = _hak_os_map(size, align, 0);
    if (p != NULL) {
        _hak_count_add(&os_count.regions, 1);
        _hak_count_add(&os_count.reserved, size);
    }
    return p;
}

static bool os_commit(void *p, size_t size)
{
    (void)p;
    _hak_count_add(&os_count.recommitted, size);
    return true;
}

static void os_decommit(void *p, size_t size)
{
    madvise(p, size, MADV_DONTNEED);
    _hak_count_add(&os_count.decommitted, size);
}

static void os_release(void *p, size_t size)
{
    munmap(p, size);
    _hak_count_sub(&os_count.regions, 1);
    _hak_count_sub(&os_count.reserved, size);
}

static bool os_resize(void *p, size_t old_size, size_t new_size)
{
    if (!_hak_os_resize(p, old_size, new_size))
        return false;
    _hak_count_add(&os_count.reserved, new_size - old_size);
    return true;
}

static bool os_move(void *dst, size_t dst_size, void *src, size_t size)
{
    bool moved = _hak_os_move(dst, dst_size, src, size);
    /* One region fewer either way: src when it moved, dst when not. */
    _hak_count_sub(&os_count.regions, 1);
    _hak_count_sub(&os_count.reserved, moved ? size : dst_size);
    return moved;
}

static void os_stats(struct hak_backend_stats *out)
{
    _hak_counters_get(&os_count, out);
    out->mode = "mmap";
    out->limit_bytes = 0;
}

const struct hak_backend_ops _hak_backend_os = {
    .name = "os",
    .init = os_init,
    .reserve = os_reserve,
    .commit = os_commit,
    .decommit = os_decommit,
    .release = os_release,
    .resize = os_resize,
    .move = os_move,
    .stats = os_stats,
};
