/* hakmem: the arena backend: the whole heap inside one region reserved at
 * start-up, so its size is a bound the program can rely on.
 *
 * init maps HAKMEM_ARENA_SIZE bytes (rounded up to whole chunks) once,
 * read-write with MAP_NORESERVE: address space only, nothing is committed
 * or charged to overcommit until touched. Read-write rather than PROT_NONE
 * so the arena stays one mapping (no mprotect per region splitting it
 * against vm.max_map_count) and a reserve makes no system call. Every
 * SuperSlab and large span is carved from it, first fit over its 2 MiB
 * chunks; when no run of free chunks fits, reserve fails with ENOMEM and
 * there is no fallback to os, or the bound would mean nothing.
 *
 * Invariants:
 *   - bit i of used is set while chunk i is part of a live region; every
 *     bit below hint is set.
 *   - A free chunk is zero and has no resident pages: release decommits a
 *     region (MADV_DONTNEED) before clearing its bits, so reserve hands out
 *     zero-filled memory without touching it.
 *   - The arena is never unmapped; base and nchunks are set by init before
 *     the backend is in use and never change.
 *   - arena_lock guards used, hint, regions and reserved; nothing else is
 *     called while it is held.
 * A region outside the arena was reserved from os in the instant before
 * this backend was chosen (another thread allocating while the first one
 * initialises); calls on it go to os.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../backend.h"
#include "../compiler.h"
#include "../internal.h"
#include "../tier.h"

#define CHUNK HAK_SS_SIZE
#define WORD_BITS 64

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static char *base;
static size_t nchunks;
static uint64_t *used;                  /* nchunks bits */
static size_t hint;
static size_t regions, reserved;
static _Atomic size_t decommitted, recommitted;

static size_t chunks_of(size_t size) { return size / CHUNK + (size % CHUNK != 0); }

static bool ours(const void *p) { return (uintptr_t)p - (uintptr_t)base < nchunks * CHUNK; }

/* The first chunk at or after i whose bit is `set`, before end (end if
 * none). */
static size_t next_with(size_t i, size_t end, bool set)
{
    while (i < end) {
        uint64_t w = used[i / WORD_BITS];
        if (!set)
            w = ~w;
        w &= ~(uint64_t)0 << (i % WORD_BITS);
        if (w != 0) {
            size_t j = i / WORD_BITS * WORD_BITS + (size_t)__builtin_ctzll(w);
            return j < end ? j : end;
        }
        i = (i / WORD_BITS + 1) * WORD_BITS;
    }
    return end;
}

static void mark(size_t i, size_t n, bool set)
{
    for (size_t k = i; k < i + n; k++) {
        uint64_t m = (uint64_t)1 << (k % WORD_BITS);
        if (set)
            used[k / WORD_BITS] |= m;
        else
            used[k / WORD_BITS] &= ~m;
    }
}

/* First fit: the lowest run of n free chunks whose address is a multiple
 * of align; nchunks if there is none. Called with arena_lock held. */
static size_t find_run(size_t n, size_t align)
{
    size_t step = align / CHUNK;        /* base is chunk-aligned: align in chunks */
    size_t i = hint;
    for (;;) {
        i = next_with(i, nchunks, false);
        size_t mis = ((uintptr_t)(base + i * CHUNK) & (align - 1)) / CHUNK;
        if (mis)
            i += step - mis;
        if (i >= nchunks || n > nchunks - i)
            return nchunks;
        size_t j = next_with(i, i + n, true);
        if (j == i + n)
            return i;
        i = j + 1;
    }
}

static bool arena_init(void)
{
    if (base != NULL)
        return true;
    uint64_t want = (_hak_opt.arena_size + CHUNK - 1) / CHUNK;
    size_t words = (size_t)(want + WORD_BITS - 1) / WORD_BITS;
    size_t map_bytes = (words * sizeof *used + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
    char *b = _hak_os_map((size_t)want * CHUNK, CHUNK, MAP_NORESERVE);
    uint64_t *bits = b != NULL ? _hak_os_map(map_bytes, HAK_PAGE_SIZE, 0) : NULL;
    if (bits == NULL) {
        char num[24];
        if (b != NULL)
            _hak_os_unmap(b, (size_t)want * CHUNK);
        _hak_write_str("hakmem: HAKMEM_BACKEND=arena: cannot reserve ");
        _hak_write_str(_hak_utoa(want * CHUNK, num));
        _hak_write_str(" bytes (HAKMEM_ARENA_SIZE); using the default os\n");
        return false;
    }
    used = bits;
    nchunks = (size_t)want;
    base = b;
    return true;
}

static void *arena_reserve(size_t size, size_t align)
{
    size_t n = chunks_of(size);
    pthread_mutex_lock(&arena_lock);
    size_t i = find_run(n, align);
    if (i == nchunks) {
        pthread_mutex_unlock(&arena_lock);
        errno = ENOMEM;
        return NULL;
    }
    mark(i, n, true);
    if (i == hint)
        hint = next_with(i + n, nchunks, false);
    regions++;
    reserved += n * CHUNK;
    pthread_mutex_unlock(&arena_lock);
    return base + i * CHUNK;
}

static bool arena_commit(void *p, size_t size)
{
    if (hak_unlikely(!ours(p)))
        return _hak_backend_os.commit(p, size);
    atomic_fetch_add_explicit(&recommitted, size, memory_order_relaxed);
    return true;
}

static void arena_decommit(void *p, size_t size)
{
    if (hak_unlikely(!ours(p))) {
        _hak_backend_os.decommit(p, size);
        return;
    }
    madvise(p, size, MADV_DONTNEED);
    atomic_fetch_add_explicit(&decommitted, size, memory_order_relaxed);
}

static void arena_release(void *p, size_t size)
{
    if (hak_unlikely(!ours(p))) {
        _hak_backend_os.release(p, size);
        return;
    }
    size_t n = chunks_of(size), i = (size_t)((char *)p - base) / CHUNK;
    madvise(p, n * CHUNK, MADV_DONTNEED);
    pthread_mutex_lock(&arena_lock);
    HAK_ASSERT(next_with(i, i + n, false) == i + n);
    mark(i, n, false);
    if (i < hint)
        hint = i;
    regions--;
    reserved -= n * CHUNK;
    pthread_mutex_unlock(&arena_lock);
}

static void arena_stats(struct hak_backend_stats *out)
{
    pthread_mutex_lock(&arena_lock);
    out->regions = regions;
    out->reserved_bytes = reserved;
    pthread_mutex_unlock(&arena_lock);
    out->mode = "arena";
    out->limit_bytes = nchunks * CHUNK;
    out->decommitted_bytes = atomic_load_explicit(&decommitted, memory_order_relaxed);
    out->recommitted_bytes = atomic_load_explicit(&recommitted, memory_order_relaxed);
}

static void arena_fork(int phase)
{
    if (phase == HAK_FORK_PREPARE)
        pthread_mutex_lock(&arena_lock);
    else
        pthread_mutex_unlock(&arena_lock);
}

const struct hak_backend_ops _hak_backend_arena = {
    .name = "arena",
    .init = arena_init,
    .reserve = arena_reserve,
    .commit = arena_commit,
    .decommit = arena_decommit,
    .release = arena_release,
    .stats = arena_stats,
    .fork = arena_fork,
};
