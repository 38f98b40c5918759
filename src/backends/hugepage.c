/* hakmem: the hugepage backend: SuperSlabs (and large spans) on 2 MiB
 * pages, for fewer TLB misses on big heaps.
 *
 * The mode is chosen once, by init, from what the system offers:
 *   hugetlb   2 MiB huge pages are reserved (nr_hugepages or
 *             free_hugepages of /sys/kernel/mm/hugepages/hugepages-2048kB,
 *             the pool /proc/sys/vm/nr_hugepages sizes on x86-64): a region
 *             whose size is a multiple of 2 MiB (every SuperSlab) is a
 *             MAP_HUGETLB mapping. Other sizes (large spans), and every
 *             region once the pool runs dry (said once), are served as in
 *             thp mode, or as os if THP is off.
 *   thp       otherwise, if transparent huge pages are enabled (always or
 *             madvise): os mappings with madvise(MADV_HUGEPAGE), so each
 *             whole 2 MiB page of a region gets a huge page at first touch.
 *   fallback  neither: exactly os, said once at init.
 * stats() reports the mode ("hugetlb", "thp", "os-fallback").
 *
 * Decommit keeps huge pages whole. In thp mode it gives back only the
 * whole 2 MiB pages inside the range (so an empty SuperSlab is given back,
 * a free 64 KiB slab is not): MADV_DONTNEED on part of a huge page would
 * split it into 4 KiB pages for good. In hugetlb mode it gives back
 * nothing: those pages were set aside for this by the administrator, and
 * one given back to the pool can be taken by another process, turning the
 * refault into SIGBUS rather than ENOMEM. What is given back reads as zero
 * afterwards; the rest of the range keeps its contents. In fallback mode
 * decommit is os's.
 *
 * The mode is written by init before the backend is in use and never
 * changes after; the rest is counters, so there is no lock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../backend.h"
#include "../compiler.h"
#include "../internal.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define HUGE_PAGE HAK_SS_SIZE

enum hp_mode { HP_NONE, HP_HUGETLB, HP_THP, HP_FALLBACK };

static enum hp_mode hp_mode;
static bool hp_thp;                     /* THP enabled: advise what hugetlb cannot serve */
static atomic_flag hp_pool_dry_said = ATOMIC_FLAG_INIT;
static struct hak_backend_counters hp_count;

/* The first number in a small sysfs file; 0 if it cannot be read. */
static uint64_t read_count(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    uint64_t v = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(buf[i] - '0');
    return v;
}

/* "always [madvise] never": the bracketed word is the setting in force. */
static bool thp_enabled(void)
{
    char buf[128];
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL;
}

static bool hp_init(void)
{
    if (hp_mode != HP_NONE)
        return true;
    hp_thp = thp_enabled();
    if (read_count("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") > 0 ||
        read_count("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") > 0) {
        hp_mode = HP_HUGETLB;
    } else if (hp_thp) {
        hp_mode = HP_THP;
    } else {
        hp_mode = HP_FALLBACK;
        _hak_write_str("hakmem: HAKMEM_BACKEND=hugepage: no 2 MiB huge pages reserved and "
                       "transparent huge pages off; using 4 KiB pages, as os\n");
    }
    return true;
}

static void *map_thp(size_t size, size_t align)
{
    void *p = _hak_os_map(size, align, 0);
    if (p != NULL && hp_thp)
        madvise(p, size, MADV_HUGEPAGE);
    return p;
}

static void *hp_reserve(size_t size, size_t align)
{
    void *p = NULL;
    if (hp_mode == HP_HUGETLB && size % HUGE_PAGE == 0) {
        p = _hak_os_map(size, align, MAP_HUGETLB | MAP_HUGE_2MB);
        if (p == NULL && !atomic_flag_test_and_set(&hp_pool_dry_said))
            _hak_write_str(hp_thp ? "hakmem: hugepage backend: the 2 MiB huge page pool is "
                                    "exhausted; using transparent huge pages from now on\n"
                                  : "hakmem: hugepage backend: the 2 MiB huge page pool is "
                                    "exhausted; using 4 KiB pages from now on\n");
    }
    if (p == NULL)
        p = map_thp(size, align);
    if (p != NULL) {
        _hak_count_add(&hp_count.regions, 1);
        _hak_count_add(&hp_count.reserved, size);
    }
    return p;
}

/* The whole huge pages inside [p, p + size): [*lo, *lo + return). */
static size_t whole_pages(void *p, size_t size, char **lo)
{
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + size) & ~(uintptr_t)(HUGE_PAGE - 1);
    *lo = (char *)a;
    return b > a ? b - a : 0;
}

static bool hp_commit(void *p, size_t size)
{
    char *lo;
    size_t n = hp_mode == HP_THP ? whole_pages(p, size, &lo)
               : hp_mode == HP_FALLBACK ? size
                                        : 0;
    _hak_count_add(&hp_count.recommitted, n);
    return true;
}

static void hp_decommit(void *p, size_t size)
{
    char *lo = p;
    size_t n = hp_mode == HP_THP ? whole_pages(p, size, &lo)
               : hp_mode == HP_FALLBACK ? size
                                        : 0;
    if (n == 0)
        return;
    madvise(lo, n, MADV_DONTNEED);
    _hak_count_add(&hp_count.decommitted, n);
}

static void hp_release(void *p, size_t size)
{
    munmap(p, size);
    _hak_count_sub(&hp_count.regions, 1);
    _hak_count_sub(&hp_count.reserved, size);
}

/* Called only when hp_remaps(): a hugetlb region can change only by whole
 * huge pages, and move only to a hugetlb region, so large.c copies then. */
static bool hp_resize(void *p, size_t old_size, size_t new_size)
{
    if (!_hak_os_resize(p, old_size, new_size))
        return false;
    if (hp_thp && new_size > old_size)
        madvise(p, new_size, MADV_HUGEPAGE);
    _hak_count_add(&hp_count.reserved, new_size - old_size);
    return true;
}

static bool hp_move(void *dst, size_t dst_size, void *src, size_t size)
{
    bool moved = _hak_os_move(dst, dst_size, src, size);
    _hak_count_sub(&hp_count.regions, 1);
    _hak_count_sub(&hp_count.reserved, moved ? size : dst_size);
    return moved;
}

static void hp_split(void *p, size_t size, size_t at)
{
    (void)p, (void)size, (void)at;
    _hak_count_add(&hp_count.regions, 1);
}

static bool hp_remaps(void) { return hp_mode != HP_HUGETLB; }

static void hp_stats(struct hak_backend_stats *out)
{
    static const char *const names[] = {"uninitialised", "hugetlb", "thp", "os-fallback"};
    _hak_counters_get(&hp_count, out);
    out->mode = names[hp_mode];
    out->limit_bytes = 0;
}

const struct hak_backend_ops _hak_backend_hugepage = {
    .name = "hugepage",
    .init = hp_init,
    .reserve = hp_reserve,
    .commit = hp_commit,
    .decommit = hp_decommit,
    .release = hp_release,
    .resize = hp_resize,
    .move = hp_move,
    .split = hp_split,
    .remaps = hp_remaps,
    .stats = hp_stats,
};
