/* hakmem: the os backend: anonymous private mappings from the kernel, one
 * per region. The default, and the fallback of every other backend.
 *
 * Alignment beyond what the kernel guarantees is asked for first at a
 * hint: the next 2 MiB boundary of a range (32..64 TiB) that the kernel's
 * top-down placement leaves alone, handed out in increasing order from a
 * random start (so addresses still differ from run to run), as mimalloc
 * does: the kernel places the region there when the slot is free, and one
 * system call does instead of three. When it places it elsewhere (the slot
 * is taken, the address space is too small, a sanitizer dropped the hint)
 * the region is had by over-mapping size + align and unmapping the slack
 * on both sides, so the kernel keeps no unused pages; after HINT_MISSES
 * such misses in a row, hints are not tried again. Not MAP_FIXED_NOREPLACE:
 * ThreadSanitizer drops an address outside its application ranges but
 * keeps the flags, and the kernel then maps at 0. Regions over HINT_MAX
 * are never hinted.
 *
 * Decommit uses MADV_DONTNEED so the resident size really falls (the
 * pages read back as zero, and refault on touch, so commit has nothing to
 * do but count).
 *
 * Resize and move are mremap's: the kernel moves page-table entries, so a
 * large span grows, shrinks or changes address without its pages being
 * copied or faulted in again.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include "../backend.h"
#include "../compiler.h"
#include "../types.h"

static struct hak_backend_counters os_count;

#define HINT_BASE ((uintptr_t)32 << 40)
#define HINT_SPREAD ((uintptr_t)4 << 40)
#define HINT_END ((uintptr_t)64 << 40)
#define HINT_MAX ((size_t)1 << 30)
#define HINT_MISSES 8

static _Atomic uintptr_t hint_next;             /* 0 until the first hint */
static _Atomic unsigned hint_misses;            /* in a row */

/* A random 2 MiB boundary in the first HINT_SPREAD of the range. */
static uintptr_t hint_start(void)
{
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&ts;
    }
    return HINT_BASE + (uintptr_t)(r % (HINT_SPREAD / HAK_SS_SIZE)) * HAK_SS_SIZE;
}

/* size bytes aligned to align (a power of two >= 2 MiB) at the next hint,
 * or NULL with nothing mapped. */
static void *map_at_hint(size_t size, size_t align, int flags)
{
    if (size > HINT_MAX || align > HINT_MAX ||
        atomic_load_explicit(&hint_misses, memory_order_relaxed) >= HINT_MISSES)
        return NULL;
    /* Steps are whole 2 MiB units, so the cursor stays on a 2 MiB boundary;
     * a larger alignment needs the room to round the start up. */
    size_t step = ((size + HAK_SS_SIZE - 1) & ~(HAK_SS_SIZE - 1)) + (align - HAK_SS_SIZE);
    uintptr_t cur = atomic_load_explicit(&hint_next, memory_order_relaxed), at;
    do {
        at = cur;
        if (at == 0 || at > HINT_END - step)
            at = hint_start();                  /* first, or past the end */
    } while (!atomic_compare_exchange_weak_explicit(&hint_next, &cur, at + step,
                                                    memory_order_relaxed, memory_order_relaxed));
    at = (at + align - 1) & ~(uintptr_t)(align - 1);
    int saved = errno;
    void *p = mmap((void *)at, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    errno = saved;
    if (p == (void *)at) {
        atomic_store_explicit(&hint_misses, 0, memory_order_relaxed);
        return p;
    }
    if (p == MAP_FAILED)                        /* out of memory: no verdict on hints */
        return NULL;
    if (((uintptr_t)p & (align - 1)) == 0)      /* elsewhere, but aligned all the same */
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
    void *hinted = align >= HAK_SS_SIZE ? map_at_hint(size, align, flags) : NULL;
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

static void os_split(void *p, size_t size, size_t at)
{
    (void)p, (void)size, (void)at;
    _hak_count_add(&os_count.regions, 1);
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
    .split = os_split,
    .stats = os_stats,
};
