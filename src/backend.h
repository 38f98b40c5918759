/* hakmem: the backend interface, where SuperSlab and large-span memory
 * comes from.
 *
 * One backend serves the whole process: _hak_backend, chosen once at
 * initialisation (HAKMEM_BACKEND, read in init.c) among the backends
 * configure compiled in (--with-backends), before any region is reserved.
 * Every call is on a slow path (a SuperSlab or a large span is created,
 * given back or decayed), so an indirect call costs nothing next to the
 * system call behind it; no hot path reaches this header.
 *
 * Every region starts on a chunk (HAK_SS_SIZE, 2 MiB) boundary, so the
 * chunk map can describe it; its size is any multiple of the page size.
 *
 * Contract of every backend:
 *   init():  makes the backend usable (reads its knobs from _hak_opt);
 *     false, after one line on stderr saying why, if it cannot be (then
 *     init.c keeps os). Idempotent; never calls malloc.
 *   reserve(size, align): size a multiple of HAK_PAGE_SIZE, align a power
 *     of two >= HAK_SS_SIZE. Returns committed (readable, writable),
 *     zero-filled memory aligned to align, or NULL with errno = ENOMEM.
 *   commit(p, size): [p, p + size) is a page-aligned range of a region
 *     that was decommitted; the caller is about to use it again. false
 *     (errno = ENOMEM) if it cannot be backed. Cheap: on Linux decommitted
 *     pages refault on touch, so today's backends only count it.
 *   decommit(p, size): a page-aligned range of a region whose contents the
 *     caller no longer needs. The pages stay mapped and accessible; the OS
 *     may reclaim their memory, and their contents become unspecified
 *     (os, arena: zero; hugepage: see hugepage.c, whole huge pages only).
 *   release(p, size): p and size exactly as a reserve returned them; the
 *     region goes back (unmapped, or free in the arena). Never a part.
 *   resize(p, old_size, new_size): region p of old_size bytes becomes
 *     new_size bytes (a multiple of the page size) at the same address,
 *     keeping its first min(old_size, new_size) bytes; what it gains reads
 *     as zero. false if it cannot (the address space after it is taken):
 *     the region is then as it was. Later calls take the new size.
 *   move(dst, dst_size, src, size): src a region of exactly size bytes,
 *     dst one of dst_size >= size just reserved: src's pages become dst's
 *     first size bytes without a copy, and src is released. false if it
 *     cannot: src is then as it was and dst is released (Linux unmaps the
 *     destination before it checks the source, so what the kernel took of
 *     it may be another mapping's by then, and is left alone).
 *   split(p, size, at): region p of size bytes becomes two, [p, p + at)
 *     and [p + at, p + size), at a multiple of HAK_SS_SIZE below size;
 *     each is resized, moved and released on its own from then on, with
 *     its contents as they were. Cannot fail: on Linux a mapping's pages
 *     can be unmapped or remapped in any part, so the split is only
 *     counted (one region more).
 *   remaps(): whether resize, move and split can succeed at all
 *     (hugepage: not on reserved huge pages); NULL if always. They are
 *     called only when it says so.
 *   resize, move, split and remaps are NULL in a backend that never can
 *     (the arena, whose chunks are not the kernel's to move); large.c
 *     then copies, and takes cached spans whole.
 *   stats(out): counters below; exact when no other thread calls the
 *     backend at the same time.
 *   fork(phase): takes (HAK_FORK_PREPARE) and releases the backend's lock
 *     around fork(); NULL for backends without one.
 * All are thread-safe, never call malloc, and take no hakmem lock but the
 * backend's own, which is a leaf: nothing is called while it is held.
 *
 * Counting identities, with no call in flight:
 *   regions        = live regions (reserved, not released)
 *   reserved_bytes = sum of their sizes as the backend rounds them (the
 *                    arena: up to whole chunks; the others: exactly)
 * decommitted_bytes and recommitted_bytes are running totals of what
 * decommit gave back and commit took back, each by the backend's own
 * rounding (the same for both calls on one range).
 */
#ifndef HAK_BACKEND_H
#define HAK_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct hak_backend_stats {
    const char *mode;           /* how memory is got: "mmap", "hugetlb", "thp", "arena", ... */
    size_t regions;             /* reserved and not yet released */
    size_t reserved_bytes;      /* their size, as the backend rounds it */
    size_t limit_bytes;         /* reserved_bytes never exceeds this; 0 = no bound */
    uint64_t decommitted_bytes; /* total given back by decommit, ever */
    uint64_t recommitted_bytes; /* total taken back by commit, ever */
};

struct hak_backend_ops {
    const char *name;
    bool (*init)(void);
    void *(*reserve)(size_t size, size_t align);
    bool (*commit)(void *p, size_t size);
    void (*decommit)(void *p, size_t size);
    void (*release)(void *p, size_t size);
    bool (*resize)(void *p, size_t old_size, size_t new_size);
    bool (*move)(void *dst, size_t dst_size, void *src, size_t size);
    void (*split)(void *p, size_t size, size_t at);
    bool (*remaps)(void);
    void (*stats)(struct hak_backend_stats *out);
    void (*fork)(int phase);
};

/* Every backend configure knows, for messages; os is always compiled in. */
#define HAK_BACKEND_NAMES "os, hugepage, arena"

extern const struct hak_backend_ops _hak_backend_os;
#if HAK_HAVE_BACKEND_HUGEPAGE
extern const struct hak_backend_ops _hak_backend_hugepage;
#endif
#if HAK_HAVE_BACKEND_ARENA
extern const struct hak_backend_ops _hak_backend_arena;
#endif

/* The backends of this build, os first, NULL-terminated. */
extern const struct hak_backend_ops *const _hak_backends[];

/* The backend in use: os until init.c chooses, and never changed after.
 * Atomic for the one thread that may read it while it is chosen (select.c);
 * the acquire pairs with the release that publishes the backend's init. */
extern _Atomic(const struct hak_backend_ops *) _hak_backend;
#define HAK_BACKEND atomic_load_explicit(&_hak_backend, memory_order_acquire)

/* Makes b the backend in use if its init succeeds; returns whether it did. */
bool _hak_backend_use(const struct hak_backend_ops *b);

/* Counters every backend keeps the same way (stats() reports them). */
struct hak_backend_counters {
    _Atomic size_t regions, reserved, decommitted, recommitted;
};

static inline void _hak_count_add(_Atomic size_t *c, size_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void _hak_count_sub(_Atomic size_t *c, size_t n)
{
    atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}

static inline void _hak_counters_get(struct hak_backend_counters *c, struct hak_backend_stats *out)
{
    out->regions = atomic_load_explicit(&c->regions, memory_order_relaxed);
    out->reserved_bytes = atomic_load_explicit(&c->reserved, memory_order_relaxed);
    out->decommitted_bytes = atomic_load_explicit(&c->decommitted, memory_order_relaxed);
    out->recommitted_bytes = atomic_load_explicit(&c->recommitted, memory_order_relaxed);
}

/* ---- os.c: mappings, for the other backends and for metadata ---- */
/* An anonymous private read-write mapping of size bytes aligned to align
 * (a power of two), with extra mmap flags; NULL with errno = ENOMEM on
 * failure. The kernel aligns a MAP_HUGETLB mapping to 2 MiB, so size and
 * align must then be multiples of 2 MiB. Metadata (thread states,
 * chunk-map leaves) is mapped with this directly, never through a
 * backend: it is not the program's memory, so it must neither count
 * against an arena's bound nor sit on huge pages, and it exists before a
 * backend is chosen. */
void *_hak_os_map(size_t size, size_t align, int flags);
void _hak_os_unmap(void *p, size_t size);
/* The os ways to resize and move a region (backend contract above), for
 * the backends whose regions are plain mappings. */
bool _hak_os_resize(void *p, size_t old_size, size_t new_size);
bool _hak_os_move(void *dst, size_t dst_size, void *src, size_t size);

#endif /* HAK_BACKEND_H */
