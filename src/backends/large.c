/* hakmem: large blocks (above HAK_SMALL_MAX): one span of pages each.
 *
 * A span starts at a chunk-aligned (2 MiB) base, so the chunk map can
 * point every chunk it covers back to that base; the span header sits at
 * the base and the block at base + offset (offset = alignment, at least
 * the header). Only the pages the span needs are mapped; the rest of the
 * chunk stays free for the kernel to use, and a foreign pointer that lands
 * there is told apart by its distance from base.
 *
 * Freed spans wait in a cache (at most LARGE_CACHE_SPANS spans and
 * LARGE_CACHE_BYTES bytes, each at most LARGE_CACHE_SPAN_MAX) until the
 * decay. The bytes bound what it keeps resident; the count is only there
 * to bound a search, and is high enough that a program holding a few
 * hundred mid-sized blocks (32 KiB up) at a time gets them back from the
 * cache rather than from a mapping, a fault per page and an unmap each:
 * 40 us a block, against 0.2 us. The sizes and free times sit in arrays
 * beside the span pointers, so neither the search nor the decay reads a
 * span's page. A request takes the cached span nearest its size and,
 * where the backend can (resize, move), trims it or grows it to fit: the
 * pages it keeps are not faulted in again, so a program that frees a large block
 * and allocates one of another size pays only for the difference.
 * realloc grows and shrinks a live span the same way, without copying.
 * A cached span keeps its map entries and a CACHED magic, so freeing it
 * again is caught.
 */
#include "../internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../backend.h"

#define LARGE_MAGIC_LIVE 0x68616b4c61726765ull  /* "hakLarge" */
#define LARGE_MAGIC_CACHED 0x68616b4361636865ull /* "hakCache" */
#define LARGE_HEADER 64
#define LARGE_CACHE_SPANS 512
#define LARGE_CACHE_BYTES ((size_t)64 << 20)
#define LARGE_CACHE_SPAN_MAX (LARGE_CACHE_BYTES / 2) /* so one span never empties the cache */

struct hak_large {
    uint64_t magic;
    size_t map_size;            /* bytes mapped at the base */
    size_t offset;              /* the block is at base + offset */
    struct hak_large *next;     /* in a list of spans about to be unmapped */
};

_Static_assert(sizeof(struct hak_large) <= LARGE_HEADER, "the span header fits before the block");

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hak_large *cache[LARGE_CACHE_SPANS]; /* oldest first */
static size_t cache_size[LARGE_CACHE_SPANS];       /* cache[i]->map_size */
static uint64_t cache_freed_ms[LARGE_CACHE_SPANS]; /* when it was cached (the decay) */
static size_t cache_n, cache_bytes;

/* Drops the n entries from i, keeping the order; large_lock held. */
static void cache_drop(size_t i, size_t n)
{
    for (size_t k = i; k < i + n; k++)
        cache_bytes -= cache_size[k];
    cache_n -= n;
    memmove(&cache[i], &cache[i + n], (cache_n - i) * sizeof cache[0]);
    memmove(&cache_size[i], &cache_size[i + n], (cache_n - i) * sizeof cache_size[0]);
    memmove(&cache_freed_ms[i], &cache_freed_ms[i + n], (cache_n - i) * sizeof cache_freed_ms[0]);
}
static _Atomic size_t live_spans, mapped_bytes;

static size_t page_round(size_t n) { return (n + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1); }

static void span_unmap(struct hak_large *h)
{
    size_t size = h->map_size;
    _hak_map_clear(h, size);
    HAK_BACKEND->release(h, size);
    atomic_fetch_sub_explicit(&mapped_bytes, size, memory_order_relaxed);
}

static void span_unmap_list(struct hak_large *h)
{
    while (h != NULL) {
        struct hak_large *next = h->next;
        h->magic = 0;
        span_unmap(h);
        h = next;
    }
}

/* How much larger than needed a span may stay rather than be trimmed: an
 * eighth, or 1 MiB. Below that a trim costs more than it saves, since a
 * span that served a larger block tends to be asked for one again (a
 * growing buffer), and trimmed pages would be faulted in anew. */
#define TRIM_SLACK_MIN ((size_t)1 << 20)
static size_t trim_slack(size_t need) { return need / 8 > TRIM_SLACK_MIN ? need / 8 : TRIM_SLACK_MIN; }

static bool remaps(const struct hak_backend_ops *b)
{
    return b->resize != NULL && (b->remaps == NULL || b->remaps());
}

/* Span h (not in the cache) becomes need bytes at the same address; false
 * if the backend cannot, h unchanged. */
static bool span_resize(struct hak_large *h, size_t need)
{
    const struct hak_backend_ops *b = HAK_BACKEND;
    size_t old = h->map_size;
    if (!remaps(b))
        return false;
    /* The chunks a span gains were free address space, so no region of
     * ours is in them: they are marked only once the span has them.
     * Those it leaves are cleared before it does. */
    if (need > old) {
        if (!b->resize(h, old, need))
            return false;
        if (!_hak_map_resize(h, old, need, HAK_CHUNK_LARGE)) {
            b->resize(h, need, old);
            return false;
        }
        h->map_size = need;
    } else {
        /* The size first too: a foreign pointer in the tail given back
         * must be told apart as soon as the tail is gone. */
        _hak_map_resize(h, old, need, HAK_CHUNK_LARGE);
        h->map_size = need;
        if (!b->resize(h, old, need)) {
            h->map_size = old;
            _hak_map_resize(h, need, old, HAK_CHUNK_LARGE);
            return false;
        }
    }
    atomic_fetch_add_explicit(&mapped_bytes, need - old, memory_order_relaxed);
    return true;
}

/* Span h moved, pages and all, to a new region of need bytes (need more
 * than h has) aligned to align; NULL if it cannot be, h unchanged. */
static struct hak_large *span_move(struct hak_large *h, size_t need, size_t align)
{
    const struct hak_backend_ops *b = HAK_BACKEND;
    if (!remaps(b))
        return NULL;
    struct hak_large *n = b->reserve(need, align);
    if (n == NULL)
        return NULL;
    /* n's chunks are marked only once the move has succeeded: a failed
     * one may leave part of n to another mapping, whose entries must not
     * be ours to clear. Their leaves are made now, so marking cannot fail
     * then. h's entries go before its pages, as span_unmap's do; its
     * leaves exist, so setting them again cannot fail either. */
    if (!_hak_map_set(n, need, HAK_CHUNK_LARGE)) {
        b->release(n, need);
        return NULL;
    }
    _hak_map_clear(n, need);
    size_t old = h->map_size;
    _hak_map_clear(h, old);
    if (!b->move(n, need, h, old)) {
        _hak_map_set(h, old, HAK_CHUNK_LARGE);
        return NULL;
    }
    _hak_map_set(n, need, HAK_CHUNK_LARGE);
    n->map_size = need;
    atomic_fetch_add_explicit(&mapped_bytes, need - old, memory_order_relaxed);
    return n;
}

/* h, of fewer than need bytes, grown where it is or moved; NULL if
 * neither can be done, h unchanged. */
static struct hak_large *span_grow(struct hak_large *h, size_t need, size_t align)
{
    return span_resize(h, need) ? h : span_move(h, need, align);
}

/* h, of at least need bytes, trimmed when it is much larger. */
static struct hak_large *span_fit(struct hak_large *h, size_t need)
{
    if (h->map_size - need > trim_slack(need))
        span_resize(h, need);
    return h;
}

/* A span of at least need bytes with a base aligned to align, made from
 * the cached span nearest in size: the smallest that is large enough,
 * else the largest, grown. Where the backend cannot trim or grow, only a
 * span at most a quarter (or 64 KiB) larger will do. NULL if the cache
 * has none to offer. */
static struct hak_large *cache_take(size_t need, size_t align)
{
    bool can_remap = remaps(HAK_BACKEND);
    size_t slack = need / 4 > 65536 ? need / 4 : 65536;
    struct hak_large *best = NULL;
    size_t best_i = 0, best_size = 0;
    pthread_mutex_lock(&large_lock);
    /* Newest first: an exact fit ends the search, and the newest spans
     * are the likeliest to be still in the caches. */
    for (size_t i = cache_n; i-- > 0;) {
        size_t size = cache_size[i];
        if (((uintptr_t)cache[i] & (align - 1)) != 0 ||
            (!can_remap && (size < need || size - need > slack)))
            continue;
        bool better = best == NULL ||
                      (best_size < need ? size > best_size : size >= need && size < best_size);
        if (better) {
            best = cache[i];
            best_i = i;
            best_size = size;
            if (size == need)
                break;
        }
    }
    if (best != NULL)
        cache_drop(best_i, 1);
    pthread_mutex_unlock(&large_lock);
    if (best == NULL)
        return NULL;
    if (best->map_size >= need)
        return span_fit(best, need);
    struct hak_large *grown = span_grow(best, need, align);
    if (grown == NULL) {
        best->magic = 0;
        span_unmap(best);
    }
    return grown;
}

void *_hak_large_alloc(size_t size, size_t alignment, bool zero)
{
    if (alignment < HAK_ALIGN)
        alignment = HAK_ALIGN;
    size_t offset = alignment > LARGE_HEADER ? alignment : LARGE_HEADER;
    if (size == 0)
        size = 1;                       /* a distinct block with a byte in its span */
    if (offset > PTRDIFF_MAX / 4 || size > PTRDIFF_MAX - 2 * offset - HAK_SS_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = page_round(offset + size);
    size_t base_align = alignment > HAK_SS_SIZE ? alignment : HAK_SS_SIZE;
    /* The backend is chosen at initialisation, which a large block may be
     * the first to need. */
    _hak_init();
    struct hak_large *h = cache_take(need, base_align);
    if (h != NULL) {
        if (zero)
            memset((char *)h + offset, 0, h->map_size - offset);
    } else {
        h = _hak_map_reserve(need, base_align, HAK_CHUNK_LARGE);
        if (h == NULL)
            return NULL;
        h->map_size = need;
        atomic_fetch_add_explicit(&mapped_bytes, need, memory_order_relaxed);
    }
    h->offset = offset;
    h->magic = LARGE_MAGIC_LIVE;
    atomic_fetch_add_explicit(&live_spans, 1, memory_order_relaxed);
    return (char *)h + offset;
}

enum hak_large_kind _hak_large_check(const void *p, uintptr_t entry, size_t *usable)
{
    struct hak_large *h = (struct hak_large *)(entry & ~HAK_CHUNK_KIND_MASK);
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)h;
    if (a < base || a >= base + h->map_size)
        return HAK_LARGE_FOREIGN;
    if (h->magic != LARGE_MAGIC_LIVE || a != base + h->offset)
        return HAK_LARGE_BAD;
    *usable = h->map_size - h->offset;
    return HAK_LARGE_OURS;
}

void *_hak_large_resize(uintptr_t entry, size_t size)
{
    struct hak_large *h = (struct hak_large *)(entry & ~HAK_CHUNK_KIND_MASK);
    if (size > PTRDIFF_MAX - 2 * h->offset - HAK_SS_SIZE)
        return NULL;
    size_t need = page_round(h->offset + size);
    if (need <= h->map_size)
        return (char *)span_fit(h, need) + h->offset;
    struct hak_large *n = span_grow(h, need, h->offset > HAK_SS_SIZE ? h->offset : HAK_SS_SIZE);
    return n == NULL ? NULL : (char *)n + n->offset;
}

bool _hak_large_free(void *p, uintptr_t entry)
{
    size_t usable;
    switch (_hak_large_check(p, entry, &usable)) {
    case HAK_LARGE_FOREIGN:
        return false;
    case HAK_LARGE_BAD:
        _hak_bad_pointer("free", p);
        return true;
    case HAK_LARGE_OURS:
        break;
    }
    struct hak_large *h = (struct hak_large *)(entry & ~HAK_CHUNK_KIND_MASK);
    atomic_fetch_sub_explicit(&live_spans, 1, memory_order_relaxed);
    if (h->map_size > LARGE_CACHE_SPAN_MAX) {
        h->magic = 0;
        span_unmap(h);
        return true;
    }
    struct hak_large *evicted = NULL;
    uint64_t now = _hak_now_ms();
    pthread_mutex_lock(&large_lock);
    h->magic = LARGE_MAGIC_CACHED;
    /* The oldest go, as many as make room, in one move of the rest. */
    size_t n = 0, bytes = cache_bytes;
    while (cache_n - n == LARGE_CACHE_SPANS || bytes + h->map_size > LARGE_CACHE_BYTES) {
        bytes -= cache_size[n];
        cache[n]->next = evicted;
        evicted = cache[n++];
    }
    if (n != 0)
        cache_drop(0, n);
    cache[cache_n] = h;
    cache_size[cache_n] = h->map_size;
    cache_freed_ms[cache_n++] = now;
    cache_bytes += h->map_size;
    pthread_mutex_unlock(&large_lock);
    span_unmap_list(evicted);
    _hak_decay_kick();
    return true;
}

/* Unmaps the cached spans older than the decay (all of them if all);
 * returns bytes released. */
size_t _hak_large_purge(uint64_t now, bool all)
{
    struct hak_large *old = NULL;
    size_t bytes = 0;
    pthread_mutex_lock(&large_lock);
    size_t kept = 0;
    for (size_t i = 0; i < cache_n; i++) {
        struct hak_large *h = cache[i];
        if (all || now - cache_freed_ms[i] >= _hak_opt.decay_ms) {
            h->next = old;
            old = h;
            cache_bytes -= cache_size[i];
            bytes += cache_size[i];
        } else {
            cache_size[kept] = cache_size[i];
            cache_freed_ms[kept] = cache_freed_ms[i];
            cache[kept++] = h;
        }
    }
    cache_n = kept;
    pthread_mutex_unlock(&large_lock);
    span_unmap_list(old);
    return bytes;
}

bool _hak_large_dirty(void)
{
    pthread_mutex_lock(&large_lock);
    bool dirty = cache_n != 0;
    pthread_mutex_unlock(&large_lock);
    return dirty;
}

void _hak_large_stats(size_t *live, size_t *cached, size_t *mapped)
{
    *live = atomic_load_explicit(&live_spans, memory_order_relaxed);
    *mapped = atomic_load_explicit(&mapped_bytes, memory_order_relaxed);
    pthread_mutex_lock(&large_lock);
    *cached = cache_n;
    pthread_mutex_unlock(&large_lock);
}

void _hak_large_fork_prepare(void) { pthread_mutex_lock(&large_lock); }
void _hak_large_fork_parent(void) { pthread_mutex_unlock(&large_lock); }
void _hak_large_fork_child(void) { pthread_mutex_unlock(&large_lock); }
