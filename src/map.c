/* hakmem: the chunk map: for every 2 MiB chunk of the address space, what
 * hakmem has there (nothing, a SuperSlab, or a large span).
 *
 * Two levels: a static root of 2^13 pointers and leaves of 2^13 entries
 * (64 KiB each) created on first use and never freed, so a lookup that
 * races with an update sees either the old or the new entry, never freed
 * memory. Entries are written only while the region they describe is not
 * reachable by the program (before it is handed out, after it is taken
 * back), so plain atomic stores suffice. _hak_ss_bits mirrors the entries
 * of kind SuperSlab, for the free fast path. The heap's regions come from
 * the backend through _hak_map_reserve, so none is handed out unmarked.
 */
#include "internal.h"

#include <errno.h>

#include "backend.h"

_Atomic(_Atomic(uintptr_t) *) _hak_map_root[1u << HAK_MAP_ROOT_BITS];
_Atomic uint32_t _hak_ss_bits[HAK_SS_BITS_WORDS];

static void ss_bit(uintptr_t chunk, bool set)
{
    uint32_t bit = 1u << (chunk & 31);
    if (set)
        atomic_fetch_or_explicit(&_hak_ss_bits[chunk >> 5], bit, memory_order_release);
    else
        atomic_fetch_and_explicit(&_hak_ss_bits[chunk >> 5], ~bit, memory_order_release);
}

#define LEAF_ENTRIES (1u << HAK_MAP_LEAF_BITS)

static _Atomic(uintptr_t) *map_leaf(uintptr_t chunk, bool create)
{
    _Atomic(_Atomic(uintptr_t) *) *slot = &_hak_map_root[chunk >> HAK_MAP_LEAF_BITS];
    _Atomic(uintptr_t) *leaf = atomic_load_explicit(slot, memory_order_acquire);
    if (leaf != NULL || !create)
        return leaf;
    _Atomic(uintptr_t) *fresh = _hak_os_map(LEAF_ENTRIES * sizeof(uintptr_t), HAK_PAGE_SIZE, 0);
    if (fresh == NULL)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &leaf, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    _hak_os_unmap(fresh, LEAF_ENTRIES * sizeof(uintptr_t));
    return leaf;
}

/* Clears the entries of chunks [first, end). */
static void map_zero(uintptr_t first, uintptr_t end)
{
    for (uintptr_t c = first; c < end; c++) {
        _Atomic(uintptr_t) *leaf = map_leaf(c, false);
        if (leaf == NULL)
            continue;
        if ((atomic_load_explicit(&leaf[c & (LEAF_ENTRIES - 1)], memory_order_relaxed) &
             HAK_CHUNK_KIND_MASK) == HAK_CHUNK_SS)
            ss_bit(c, false);
        atomic_store_explicit(&leaf[c & (LEAF_ENTRIES - 1)], 0, memory_order_release);
    }
}

/* Sets the entries of chunks [first, end) to entry; on OOM sets none. */
static bool map_fill(uintptr_t first, uintptr_t end, uintptr_t entry)
{
    for (uintptr_t c = first; c < end; c++) {
        _Atomic(uintptr_t) *leaf = map_leaf(c, true);
        if (leaf == NULL) {
            map_zero(first, c);
            return false;
        }
        atomic_store_explicit(&leaf[c & (LEAF_ENTRIES - 1)], entry, memory_order_release);
        if ((entry & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_SS)
            ss_bit(c, true);
    }
    return true;
}

/* One past the last chunk [a, a + size) touches. */
static uintptr_t chunk_end(uintptr_t a, size_t size) { return ((a + size - 1) >> HAK_CHUNK_SHIFT) + 1; }

bool _hak_map_set(void *base, size_t size, enum hak_chunk_kind kind)
{
    uintptr_t a = (uintptr_t)base;
    if ((a + size - 1) >> HAK_MAP_ADDR_BITS)
        return false;
    return map_fill(a >> HAK_CHUNK_SHIFT, chunk_end(a, size), a | (uintptr_t)kind);
}

void *_hak_map_reserve(size_t size, size_t align, size_t head, enum hak_chunk_kind kind)
{
    char *base = HAK_BACKEND->reserve(size, align);
    /* Out of address space (RLIMIT_AS) or commit charge: the empty
     * SuperSlabs and cached large spans waiting for the decay may be what
     * stands in the way. */
    if (base == NULL && _hak_decay_purge_all() > 0)
        base = HAK_BACKEND->reserve(size, align);
    if (base == NULL)
        return NULL;
    if (!_hak_map_set(base + head, size - head, kind)) {
        HAK_BACKEND->release(base, size);
        errno = ENOMEM;
        return NULL;
    }
    return base + head;
}

void _hak_map_clear(void *base, size_t size)
{
    uintptr_t a = (uintptr_t)base;
    map_zero(a >> HAK_CHUNK_SHIFT, chunk_end(a, size));
}

bool _hak_map_resize(void *base, size_t old_size, size_t new_size, enum hak_chunk_kind kind)
{
    uintptr_t a = (uintptr_t)base;
    uintptr_t old_end = chunk_end(a, old_size), new_end = chunk_end(a, new_size);
    if (new_end <= old_end) {
        map_zero(new_end, old_end);
        return true;
    }
    if ((a + new_size - 1) >> HAK_MAP_ADDR_BITS)
        return false;
    return map_fill(old_end, new_end, a | (uintptr_t)kind);
}
