/* hakmem: large blocks (above HAK_SMALL_MAX): one span of pages each.
 *
 * A span starts at a chunk-aligned (2 MiB) base. Its header sits a colour
 * past the base (next_color: a few pages that are never touched, and an
 * offset within the slack of the block's last page), and the chunk map
 * points every chunk the span covers at the header; the block is at
 * header + offset, the first address past the header aligned as asked
 * (span_offset; a block may start elsewhere at each reuse). Only the
 * pages the span needs are mapped; the rest of the chunk stays free for
 * the kernel to use, and a foreign pointer that lands there is told apart
 * by its distance from the base. A span keeps its colour when it is
 * resized, moved or cached, and what it holds is counted from its header
 * (span_room), so its colour costs it nothing in the cache.
 *
 * Freed spans wait in a cache until the decay. It is sharded: spans up to
 * LARGE_MID_MAX in a shard per CPU (modulo LARGE_SHARDS - 1), so threads
 * that allocate mid-sized blocks on two CPUs do not queue on one lock (two
 * threads ran at 0.4x the rate of one); larger spans, each at most
 * HAK_LARGE_CACHE_SPAN_MAX, in shard 0, where the page faults of a block
 * dwarf any lock. A request takes a span large enough from its own shard,
 * else from another, else one to grow, before anything is mapped: a CPU
 * is only where to look first. All shards together keep at most
 * HAK_LARGE_CACHE_BYTES, which bounds what the cache keeps resident (a shard
 * that cannot make room from its own spans takes it from the others');
 * the count per shard (LARGE_CACHE_SPANS) is only there to bound a
 * search, and is high enough that a program holding a few hundred
 * mid-sized blocks (32 KiB up) at a time gets them back from the cache
 * rather than from a mapping, a fault per page and an unmap each: 40 us a
 * block, against 0.2 us. The sizes and free times sit in arrays
 * beside the span pointers, so neither the search nor the decay reads a
 * span's page. A request takes the smallest cached span large enough and
 * at most five times its size, as it is, else, where the backend can
 * (resize, move), grows one of at least half its size, else maps a new
 * one: cached spans of other sizes wait for requests of their size, as
 * resizing them would fault their pages in anew. calloc, which would
 * zero all of a span much larger than its block, gives what the span
 * holds past the first chunk boundary after the block back to the cache
 * as a span of its own (span_split), and trims the rest.
 * realloc grows a live span in place or moves it with its pages, and
 * trims it when it shrinks by more than trim_slack, without copying.
 * A cached span keeps its map entries and a CACHED magic, so freeing it
 * again is caught.
 *
 * Before the cache, each registered thread keeps the spans it freed last
 * (HAK_KEEP_SPANS of at most LARGE_KEEP_SPAN_MAX bytes, HAK_KEEP_BYTES
 * in all, oldest out first) in its keep, for its next large mallocs of
 * about their sizes: a program that allocates and frees mid-sized blocks
 * takes no lock and writes no shared line, where the cache's lock pair
 * alone cost more than the rest of the pair. Nor does it execute an
 * atomic read-modify-write or (where the kernel has membarrier) a fence:
 * each of those waits for the stores the program has in flight, and with
 * a hundred live blocks of 33-128 KiB, each written as it came, the one
 * exchange left on that path took 56% of the time. The purger takes the
 * spans to the cache (where they wait their decay, counted from the
 * purger's pass: a kept span lives up to one and a half decays) through
 * an asymmetric Dekker pair
 * (fence.c): the thread sets busy around its use of the keep and looks at
 * steal; the purger sets steal on each thread with spans, makes a heavy
 * fence, and takes the spans of each thread not busy. Where that fence
 * fails for good (fence.c), the purger takes no thread's spans, and a
 * thread puts its spans to the cache at its next large free or keep miss
 * (keep_give_up), and keeps none from then on. Kept spans are outside
 * the cache's bound. The purger and a thread's exit move them under the
 * registry's lock, which the statistics hold while they count,
 * so a single-threaded program's counts are exact; a thread's own moves
 * (its free, its trim) take no such lock, so while other threads run the
 * counts may be off by their spans in transit.
 */
#define _GNU_SOURCE /* sched_getcpu */
#include "../internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "../backend.h"

#define LARGE_MAGIC_LIVE 0x68616b4c61726765ull  /* "hakLarge" */
#define LARGE_MAGIC_CACHED 0x68616b4361636865ull /* "hakCache" */
#define LARGE_HEADER 64
#define LARGE_PAGE_COLORS 32
#define LARGE_COLOR_SPAN_MAX ((size_t)512 << 10)
#define LARGE_CACHE_SPANS 512
#define LARGE_KEEP_SPAN_MAX ((size_t)1 << 20)
#define LARGE_POPULATE_MIN ((size_t)1 << 20)
_Static_assert(LARGE_KEEP_SPAN_MAX <= HAK_KEEP_BYTES, "a thread can keep any span it may keep");
/* Shard 0 caches the spans above LARGE_MID_MAX; the others, one per CPU
 * (modulo), those up to it. */
#define LARGE_MID_MAX ((size_t)1 << 20)
#define LARGE_SHARDS 9

struct hak_large {
    uint64_t magic;
    size_t map_size;            /* bytes mapped at the base */
    size_t offset;              /* the block is at the header + offset */
    struct hak_large *next;     /* in a list of spans about to be unmapped */
};

/* A span's colour: how far past its chunk-aligned base its header sits. */
static size_t span_color(const struct hak_large *h) { return (uintptr_t)h & (HAK_SS_SIZE - 1); }
static void *span_base(struct hak_large *h) { return (char *)h - span_color(h); }
/* The bytes from h's header to its end: what the span holds, whatever
 * its colour. The cache matches and counts spans by it. */
static size_t span_room(const struct hak_large *h) { return h->map_size - span_color(h); }

_Static_assert(sizeof(struct hak_large) <= LARGE_HEADER, "the span header fits before the block");

struct large_shard {
    pthread_mutex_t lock;
    size_t n;
    struct hak_large *span[LARGE_CACHE_SPANS]; /* oldest first */
    size_t size[LARGE_CACHE_SPANS];            /* span_room(span[i]) */
    uint64_t freed_ms[LARGE_CACHE_SPANS];      /* when it was cached (the decay) */
} __attribute__((aligned(HAK_CACHE_LINE)));

#define LARGE_SHARD_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}
static struct large_shard shards[] = {
    LARGE_SHARD_INIT, LARGE_SHARD_INIT, LARGE_SHARD_INIT, LARGE_SHARD_INIT, LARGE_SHARD_INIT,
    LARGE_SHARD_INIT, LARGE_SHARD_INIT, LARGE_SHARD_INIT, LARGE_SHARD_INIT,
};
_Static_assert(sizeof shards / sizeof shards[0] == LARGE_SHARDS, "a lock initialiser per shard");
/* The bytes of all shards, bounded by HAK_LARGE_CACHE_BYTES together: each
 * shard changes it under its own lock. */
static _Atomic size_t cached_bytes;

/* The shard a span of size bytes is cached in, and looked for first. */
static struct large_shard *shard_for(size_t size)
{
    if (size > LARGE_MID_MAX)
        return &shards[0];
    int cpu = sched_getcpu();
    return &shards[1 + (unsigned)(cpu < 0 ? 0 : cpu) % (LARGE_SHARDS - 1)];
}

/* Drops the n entries of c from i, keeping the order; c's lock held. */
static void cache_drop(struct large_shard *c, size_t i, size_t n)
{
    size_t bytes = 0;
    for (size_t k = i; k < i + n; k++)
        bytes += c->size[k];
    atomic_fetch_sub_explicit(&cached_bytes, bytes, memory_order_relaxed);
    HAK_RELAXED_SET(c->n, c->n - n);
    memmove(&c->span[i], &c->span[i + n], (c->n - i) * sizeof c->span[0]);
    memmove(&c->size[i], &c->size[i + n], (c->n - i) * sizeof c->size[0]);
    memmove(&c->freed_ms[i], &c->freed_ms[i + n], (c->n - i) * sizeof c->freed_ms[0]);
}
static _Atomic size_t mapped_bytes;
/* Large mallocs and frees of threads without a registered state; the
 * others count in their own counters, with no atomic operation. */
static _Atomic uint64_t stateless_out, stateless_in;

static size_t page_round(size_t n) { return (n + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1); }

static void span_unmap(struct hak_large *h)
{
    size_t size = h->map_size;
    void *base = span_base(h);
    _hak_map_clear(base, size);
    HAK_BACKEND->release(base, size);
    atomic_fetch_sub_explicit(&mapped_bytes, size, memory_order_relaxed);
}

/* Returns the bytes unmapped. */
static size_t span_unmap_list(struct hak_large *h)
{
    size_t bytes = 0;
    while (h != NULL) {
        struct hak_large *next = h->next;
        h->magic = 0;
        bytes += h->map_size;
        span_unmap(h);
        h = next;
    }
    return bytes;
}

#define SLACK_MIN ((size_t)1 << 20)

/* How much larger than needed a live span may stay when realloc shrinks
 * it: an eighth, or 1 MiB. Below that a trim costs more than it saves,
 * since a buffer that was larger tends to grow again. */
static size_t trim_slack(size_t need) { return need / 8 > SLACK_MIN ? need / 8 : SLACK_MIN; }

/* How much larger than needed a cached span may be to serve a request as
 * it is: four times the need, or 1 MiB. Its pages are resident already:
 * when a request trimmed a span an eighth larger, blocks of random sizes
 * from 64 KiB to 4 MiB had each trim and the grow after it fault pages in
 * anew, 1.5 ms a block. Four times bounds what a live block pins to five
 * times its size. */
static size_t take_slack(size_t need) { return 4 * need > SLACK_MIN ? 4 * need : SLACK_MIN; }

static bool remaps(const struct hak_backend_ops *b)
{
    return b->resize != NULL && (b->remaps == NULL || b->remaps());
}

/* Span h (not in the cache) becomes need bytes at the same address; false
 * if the backend cannot, h unchanged. */
static bool span_resize(struct hak_large *h, size_t need)
{
    const struct hak_backend_ops *b = HAK_BACKEND;
    size_t old = h->map_size, c = span_color(h);
    void *base = span_base(h);
    if (!remaps(b))
        return false;
    /* The chunks a span gains were free address space, so no region of
     * ours is in them: they are marked only once the span has them.
     * Those it leaves are cleared before it does. The map's entries point
     * at the header, so its calls count from there. */
    if (need > old) {
        if (!b->resize(base, old, need))
            return false;
        if (!_hak_map_resize(h, old - c, need - c, HAK_CHUNK_LARGE)) {
            b->resize(base, need, old);
            return false;
        }
        h->map_size = need;
    } else {
        /* The size first too: a foreign pointer in the tail given back
         * must be told apart as soon as the tail is gone. */
        _hak_map_resize(h, old - c, need - c, HAK_CHUNK_LARGE);
        h->map_size = need;
        if (!b->resize(base, old, need)) {
            h->map_size = old;
            _hak_map_resize(h, need - c, old - c, HAK_CHUNK_LARGE);
            return false;
        }
    }
    atomic_fetch_add_explicit(&mapped_bytes, need - old, memory_order_relaxed);
    return true;
}

/* Span h moved, pages and all, to a new region of need bytes (need more
 * than h has) with a base aligned to align, its colour kept; NULL if it
 * cannot be, h unchanged. */
static struct hak_large *span_move(struct hak_large *h, size_t need, size_t align)
{
    const struct hak_backend_ops *b = HAK_BACKEND;
    if (!remaps(b))
        return NULL;
    size_t c = span_color(h);
    char *nbase = b->reserve(need, align);
    if (nbase == NULL)
        return NULL;
    struct hak_large *n = (struct hak_large *)(nbase + c);
    /* n's chunks are marked only once the move has succeeded: a failed
     * one may leave part of n to another mapping, whose entries must not
     * be ours to clear. Their leaves are made now, so marking cannot fail
     * then. h's entries go before its pages, as span_unmap's do; its
     * leaves exist, so setting them again cannot fail either. */
    if (!_hak_map_set(n, need - c, HAK_CHUNK_LARGE)) {
        b->release(nbase, need);
        return NULL;
    }
    _hak_map_clear(n, need - c);
    size_t old = h->map_size;
    _hak_map_clear(h, old - c);
    if (!b->move(nbase, need, span_base(h), old)) {
        _hak_map_set(h, old - c, HAK_CHUNK_LARGE);
        return NULL;
    }
    _hak_map_set(n, need - c, HAK_CHUNK_LARGE);
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

/* How much larger than need a span may be where it is taken as it is. */
static size_t fit_slack(size_t need) { return need / 4 > 65536 ? need / 4 : 65536; }

/* The bytes span h needs mapped for a block room bytes past its header
 * (the offset, then the block). */
static size_t span_need(const struct hak_large *h, size_t room)
{
    return page_round(span_color(h) + room);
}

/* Where a block aligned to align starts in span h, as an offset from its
 * header: the first address so aligned past the header. A coloured span
 * serves any alignment up to a chunk, and one above only from a header so
 * aligned (whose base stays so aligned when the span moves). */
static size_t span_offset(const struct hak_large *h, size_t align)
{
    uintptr_t a = (uintptr_t)h + LARGE_HEADER;
    return ((a + align - 1) & ~(uintptr_t)(align - 1)) - (uintptr_t)h;
}

/* The room span h needs for a block of size bytes aligned to align, or
 * SIZE_MAX if it can hold none. Reads the span's address, not its header. */
static size_t span_wants(const struct hak_large *h, size_t size, size_t align)
{
    if (align > HAK_SS_SIZE && ((uintptr_t)h & (align - 1)) != 0)
        return SIZE_MAX;
    return span_offset(h, align) + size;
}

/* The base alignment a block aligned to align needs. */
static size_t base_align(size_t align) { return align > HAK_SS_SIZE ? align : HAK_SS_SIZE; }

/* The span of shard c nearest in size to a block of size bytes aligned to
 * align (span_wants), taken out: the smallest that is large enough and at
 * most take_slack larger, else (if grow) the largest of at least half
 * what it needs. Others stay for requests of their size: trimmed or
 * grown, a span faults pages in anew later or now, and the cache would
 * hold only the few spans in turn resized (a block of 1 MiB trimming a
 * cached 5 MiB span, the next 5 MiB block mapped afresh). Where the
 * backend cannot resize, only a span at most a quarter (or 64 KiB) larger
 * will do. NULL if c has none to offer. */
static struct hak_large *shard_take(struct large_shard *c, size_t size, size_t align,
                                    bool can_remap, bool grow)
{
    struct hak_large *best = NULL;
    size_t best_i = 0, best_room = 0;
    bool best_fits = false;
    pthread_mutex_lock(&c->lock);
    /* Newest first: an exact fit (not a page to spare) ends the search,
     * and the newest spans are the likeliest to be still in the caches. */
    for (size_t i = c->n; i-- > 0;) {
        size_t room = c->size[i], want = span_wants(c->span[i], size, align);
        if (want == SIZE_MAX || room < (can_remap && grow ? want / 2 : want) ||
            room > want + (can_remap ? take_slack(want) : fit_slack(want)))
            continue;
        bool fits = room >= want;
        bool better = best == NULL ||
                      (best_fits ? fits && room < best_room : fits || room > best_room);
        if (better) {
            best = c->span[i];
            best_i = i;
            best_room = room;
            best_fits = fits;
            if (fits && room - want < HAK_PAGE_SIZE)
                break;
        }
    }
    if (best != NULL)
        cache_drop(c, best_i, 1);
    pthread_mutex_unlock(&c->lock);
    return best;
}

/* A cached span for a block of size bytes aligned to align (shard_take),
 * from the request's shard first, else from any other; NULL if the cache
 * has none to offer. */
static struct hak_large *cache_take(size_t size, size_t align, bool grow)
{
    bool can_remap = remaps(HAK_BACKEND);
    struct large_shard *home = shard_for(size);
    struct hak_large *best = shard_take(home, size, align, can_remap, grow);
    for (unsigned i = 0; best == NULL && i < LARGE_SHARDS; i++)
        if (&shards[i] != home && HAK_RELAXED_GET(shards[i].n) != 0) /* a peek */
            best = shard_take(&shards[i], size, align, can_remap, grow);
    return best;
}

/* Whether t may keep a span of size bytes: only a registered thread (the
 * purger walks the registry), and only while a purger can take it back
 * (there is a decay, and the heavy fence has not failed for good). */
static bool keeps(const struct hak_thread *t, size_t size)
{
    return t->keeps_span && size <= LARGE_KEEP_SPAN_MAX && _hak_opt.decay_ms != 0 &&
           !atomic_load_explicit(&_hak_fence_failed, memory_order_relaxed);
}

/* t, its owner, enters its keep: false while a purger takes its spans,
 * which are then not t's to touch. */
HAK_INLINE bool keep_enter(struct hak_thread *t)
{
    atomic_store_explicit(&t->keep.busy, 1, memory_order_relaxed);
    _hak_fence_light();
    if (hak_likely(atomic_load_explicit(&t->keep.steal, memory_order_acquire) == 0))
        return true;
    atomic_store_explicit(&t->keep.busy, 0, memory_order_release);
    return false;
}

HAK_INLINE void keep_leave(struct hak_thread *t)
{
    atomic_store_explicit(&t->keep.busy, 0, memory_order_release);
}

static void keep_drop(struct hak_keep *k, uint32_t i)
{
    uint32_t n = k->n - 1;
    k->bytes -= k->room[i];
    for (; i < n; i++) {
        k->span[i] = k->span[i + 1];
        k->room[i] = k->room[i + 1];
    }
    HAK_RELAXED_SET(k->n, n);
}

/* All of k's spans, linked through next; k is left empty. */
static struct hak_large *keep_empty(struct hak_keep *k)
{
    struct hak_large *list = NULL;
    for (uint32_t i = 0; i < k->n; i++) {
        k->span[i]->next = list;
        list = k->span[i];
    }
    k->bytes = 0;
    HAK_RELAXED_SET(k->n, 0);
    return list;
}

/* The newest span t keeps that fits a block of size bytes aligned to
 * align (at most HAK_SS_SIZE) as it is, at most fit_slack larger, taken
 * out; else NULL. A block aligned to LARGE_HEADER or less starts
 * LARGE_HEADER past the header of any span (colours are multiples of
 * it), so its room is the same in every span and a span is one compare.
 * Kept spans are not grown: grown to larger requests, they held 23% more
 * resident memory (bench/midsize 1T: 37.5 against 30.6 MiB). */
HAK_INLINE struct hak_large *keep_take(struct hak_thread *t, size_t size, size_t align)
{
    struct hak_keep *k = &t->keep;
    if (!keep_enter(t))
        return NULL;
    uint32_t i = k->n;
    if (align <= LARGE_HEADER) {
        size_t want = LARGE_HEADER + size, slack = fit_slack(want);
        while (i-- > 0 && k->room[i] - want > slack) /* unsigned: also room < want */
            ;
    } else {
        while (i-- > 0) {
            size_t want = span_offset(k->span[i], align) + size;
            if (k->room[i] - want <= fit_slack(want))
                break;
        }
    }
    struct hak_large *h = NULL;
    if (i != UINT32_MAX) {
        h = k->span[i];
        keep_drop(k, i);
    }
    keep_leave(t);
    return h;
}

/* Keeps h (marked cached, next NULL) as t's newest span. Returns what
 * goes to the cache instead, linked through next: the oldest spans, as
 * many as make room, or h itself while a purger takes t's spans. */
HAK_INLINE struct hak_large *keep_put(struct hak_thread *t, struct hak_large *h)
{
    struct hak_keep *k = &t->keep;
    if (!keep_enter(t))
        return h;
    size_t room = span_room(h);
    bool was_empty = k->n == 0;
    struct hak_large *out = NULL;
    while (k->n != 0 && (k->n == HAK_KEEP_SPANS || k->bytes + room > HAK_KEEP_BYTES)) {
        struct hak_large *old = k->span[0];
        keep_drop(k, 0);
        old->next = out;
        out = old;
    }
    k->span[k->n] = h;
    k->room[k->n] = room;
    k->bytes += room;
    HAK_RELAXED_SET(k->n, k->n + 1);
    keep_leave(t);
    /* The purger may have gone to sleep seeing no span kept. */
    if (was_empty)
        _hak_decay_kick();
    return out;
}

/* All the spans t, their owner, keeps, linked through next. It waits
 * while a purger takes them: that ends without waiting for anything t
 * may hold. */
static struct hak_large *keep_take_all(struct hak_thread *t)
{
    while (!keep_enter(t))
        sched_yield();
    struct hak_large *list = keep_empty(&t->keep);
    keep_leave(t);
    return list;
}

static void cache_put(struct hak_large *list);

/* Once the heavy fence has failed for good, no purger takes t's spans,
 * and t keeps no more (keeps): it puts those it kept in the cache itself,
 * at its next keep miss or free of a large block. */
static void keep_give_up(struct hak_thread *t)
{
    if (atomic_load_explicit(&_hak_fence_failed, memory_order_relaxed) &&
        HAK_RELAXED_GET(t->keep.n) != 0)
        cache_put(keep_take_all(t));
}

/* For calloc, which would zero what h holds past its block (want bytes
 * past its header) or trim it: what lies past the first chunk boundary
 * after the block goes back to the cache as a span of its own (colour 0),
 * where the backend can split and that is at least SLACK_MIN. Trimmed,
 * its pages would fault in anew for the next block of their size: a
 * clone of mimalloc's stress test, whose callocs of 0.4 to 25.6 MB took
 * each other's spans, faulted 1.9 GB in that way. The tail's pages stay
 * as they are, its chunks' entries point at its own header from then on,
 * and its free is refused like any cached span's. malloc takes a span
 * whole: cut, a span that served a smaller block would be grown again,
 * pages faulted in, for the next block of its own size (bench/midsize,
 * blocks of 64 KiB to 4 MiB: 0.55x the rate, 1.65x the peak). */
static void span_split(struct hak_large *h, size_t want)
{
    const struct hak_backend_ops *b = HAK_BACKEND;
    size_t at = (span_need(h, want) + HAK_SS_SIZE - 1) & ~(HAK_SS_SIZE - 1);
    size_t old = h->map_size;
    if (!remaps(b) || b->split == NULL || at >= old || old - at < SLACK_MIN)
        return;
    char *base = span_base(h);
    b->split(base, old, at);
    h->map_size = at;
    struct hak_large *tail = (struct hak_large *)(base + at);
    tail->magic = LARGE_MAGIC_CACHED;
    tail->map_size = old - at;
    tail->offset = 0;
    tail->next = NULL;
    /* Its chunks' leaves exist (they point at h), so this cannot fail. */
    _hak_map_set(tail, old - at, HAK_CHUNK_LARGE);
    cache_put(tail);
}

/* A span for a block of size bytes aligned to align, from the cache
 * (the keep has been looked at): one that fits as it is, else (where the
 * backend can resize) one of at least half the size, grown; NULL if
 * there is none. */
static struct hak_large *span_take(size_t size, size_t align)
{
    struct hak_large *h = cache_take(size, align, false);
    if (h == NULL && remaps(HAK_BACKEND))
        h = cache_take(size, align, true);
    if (h == NULL)
        return NULL;
    size_t want = span_wants(h, size, align);
    if (span_room(h) >= want)
        return h;
    struct hak_large *grown = span_grow(h, span_need(h, want), base_align(align));
    if (grown == NULL) {
        h->magic = 0;
        span_unmap(h);
    }
    return grown;
}

/* The colour of a new span for a block room bytes past its header, which
 * is aligned to step: one of the offsets (multiples of step) that fit in
 * the slack of the block's last page, which costs nothing, and for a span
 * up to LARGE_COLOR_SPAN_MAX one of LARGE_PAGE_COLORS pages, which costs
 * address space only (they are never touched), both picked by a Weyl
 * sequence (a counter times the golden ratio), which spreads consecutive
 * spans evenly. With every header at its chunk-aligned base, all headers
 * and the first line of every block share a cache set and a TLB set: a
 * program that touched the start of 64 live blocks of 64 KiB in turn ran
 * at a twelfth of the rate it has with the colours (bench/firstline).
 * Blocks aligned to a page or more get none. */
static size_t next_color(size_t room, size_t step)
{
    static _Atomic uint32_t turn;
    if (step >= HAK_PAGE_SIZE)
        return 0;
    uint32_t x = atomic_fetch_add_explicit(&turn, 1, memory_order_relaxed) * 0x9e3779b9u;
    size_t lines = (page_round(room) - room) / step + 1;
    size_t pages = page_round(room) <= LARGE_COLOR_SPAN_MAX ? LARGE_PAGE_COLORS : 1;
    return (x >> 24) % pages * HAK_PAGE_SIZE + (x >> 8) % lines * step;
}

/* Hands out the block of span h (taken from the cache or a keep, or new)
 * at offset from its header. */
HAK_INLINE void *span_hand_out(struct hak_thread *t, struct hak_large *h, size_t offset)
{
    h->offset = offset;
    h->magic = LARGE_MAGIC_LIVE;
    if (t->keeps_span)
        HAK_RELAXED_ADD(t->ctr.large_out, 1);
    else
        atomic_fetch_add_explicit(&stateless_out, 1, memory_order_relaxed);
    return (char *)h + offset;
}

static HAK_NOINLINE void *large_alloc_slow(size_t size, size_t alignment, bool zero);

/* A span the thread keeps first: only a thread past its initialisation
 * keeps any, and a kept span needs neither the checks below nor a trim
 * before calloc's zeroing (it is at most fit_slack larger than the
 * block). Size 0 goes the slow way, which makes it 1: a block past the
 * end of a span whose room is just its offset would not be one. */
void *_hak_large_alloc(size_t size, size_t alignment, bool zero)
{
    struct hak_thread *t = _hak_tls;
    if (HAK_RELAXED_GET(t->keep.n) != 0 && size - 1 < LARGE_KEEP_SPAN_MAX &&
        alignment <= HAK_SS_SIZE) {
        struct hak_large *h = keep_take(t, size, alignment);
        if (h != NULL) {
            size_t offset = span_offset(h, alignment);
            if (zero)
                memset((char *)h + offset, 0, span_room(h) - offset);
            return span_hand_out(t, h, offset);
        }
    }
    return large_alloc_slow(size, alignment, zero);
}

/* A fresh span reads as zero untouched, so calloc writes none of it;
 * but a program that reads a page before it writes it (a check, a
 * counter, a hash table) then faults twice: the read maps the kernel's
 * zero page, and the write replaces that mapping, which flushes the TLB
 * on every CPU the process runs on, an interrupt to each. A clone of
 * mimalloc's stress test (4 threads on 2 CPUs, callocs up to 25 MiB,
 * each word checked, then written) spent 43% of its time sending them.
 * So calloc's fresh spans are populated writable in one call: one fault
 * a page, taken in the kernel's loop. Only spans the cache would keep,
 * which calloc zeroes whole on reuse anyway: a larger table used
 * sparsely still gets its untouched pages for nothing. And only spans
 * of LARGE_POPULATE_MIN or more, where the bytes are: smaller zeroed
 * buffers are often left partly unused (CPython's bytes(n) callocs its
 * buffer: a script holding 3000 of up to 70 KB peaked at 169 MiB with
 * them populated, 96 MiB without, jemalloc 80), and the stress test ran
 * about as fast with those left to fault in (0.72-0.88 s against
 * 0.71-0.86, and 0.94-1.12 populating none). A kernel before 5.14 says
 * EINVAL, once; any other failure leaves the pages to fault in as
 * before. */
static void span_populate(struct hak_large *h)
{
#ifdef MADV_POPULATE_WRITE
    static _Atomic bool unsupported;
    if (span_room(h) > HAK_LARGE_CACHE_SPAN_MAX || span_room(h) < LARGE_POPULATE_MIN ||
        atomic_load_explicit(&unsupported, memory_order_relaxed))
        return;
    uintptr_t lo = (uintptr_t)h & ~(uintptr_t)(HAK_PAGE_SIZE - 1);
    uintptr_t hi = (uintptr_t)span_base(h) + h->map_size;
    int saved = errno;
    if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
        atomic_store_explicit(&unsupported, true, memory_order_relaxed);
    errno = saved;
#else
    (void)h;
#endif
}

static HAK_NOINLINE void *large_alloc_slow(size_t size, size_t alignment, bool zero)
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
    /* The backend is chosen at initialisation, which a large block may be
     * the first to need. */
    _hak_init();
    struct hak_thread *t = _hak_tls;
    keep_give_up(t);
    if (hak_unlikely(t->state == HAK_THREAD_UNINIT) && !HAK_TRACK_ON) {
        /* A thread whose first block is a large one gets its state here,
         * or it would never keep a span. */
        bool locked;
        _hak_thread_get(&locked);
        if (locked)
            _hak_orphan_unlock();
        t = _hak_tls;
    }
    struct hak_large *h = span_take(size, alignment);
    if (h != NULL) {
        offset = span_offset(h, alignment);
        size_t room = offset + size;
        /* calloc zeroes the whole usable size, as glibc's does; a span
         * much larger than asked (cache_take takes spans whole, up to five
         * times the size asked) is split and trimmed first, which costs
         * one mremap where zeroing the excess cost 8 us per MiB. */
        if (zero) {
            span_split(h, room);
            if (span_room(h) - room > fit_slack(room))
                span_resize(h, span_need(h, room));
            memset((char *)h + offset, 0, span_room(h) - offset);
        }
    } else {
        /* A colour is a multiple of offset, so the block is aligned. */
        size_t room = offset + size, color = next_color(room, offset);
        size_t need = page_round(color + room);
        h = _hak_map_reserve(need, base_align(alignment), color, HAK_CHUNK_LARGE);
        if (h == NULL)
            return NULL;
        h->map_size = need;
        atomic_fetch_add_explicit(&mapped_bytes, need, memory_order_relaxed);
        if (zero)
            span_populate(h);
    }
    return span_hand_out(t, h, offset);
}

enum hak_large_kind _hak_large_check(const void *p, uintptr_t entry, size_t *usable)
{
    struct hak_large *h = (struct hak_large *)(entry & ~HAK_CHUNK_KIND_MASK);
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)span_base(h);
    if (a < base || a >= base + h->map_size)
        return HAK_LARGE_FOREIGN;
    if (h->magic != LARGE_MAGIC_LIVE || a != (uintptr_t)h + h->offset)
        return HAK_LARGE_BAD;
    *usable = span_room(h) - h->offset;
    return HAK_LARGE_OURS;
}

void *_hak_large_resize(uintptr_t entry, size_t size)
{
    struct hak_large *h = (struct hak_large *)(entry & ~HAK_CHUNK_KIND_MASK);
    if (size > PTRDIFF_MAX - 2 * h->offset - HAK_SS_SIZE)
        return NULL;
    size_t need = span_need(h, h->offset + size);
    if (need <= h->map_size)
        return (char *)span_fit(h, need) + h->offset;
    struct hak_large *n = span_grow(h, need, base_align(h->offset));
    return n == NULL ? NULL : (char *)n + n->offset;
}

/* Evicts c's oldest spans onto *evicted, as many as bring the cache
 * within HAK_LARGE_CACHE_BYTES with add bytes more, or a span count of
 * LARGE_CACHE_SPANS - keep, or as c has; c's lock held. */
static void shard_evict(struct large_shard *c, size_t add, size_t keep,
                        struct hak_large **evicted)
{
    size_t n = 0, bytes = atomic_load_explicit(&cached_bytes, memory_order_relaxed);
    while (n < c->n &&
           (c->n - n > LARGE_CACHE_SPANS - keep || bytes + add > HAK_LARGE_CACHE_BYTES)) {
        bytes -= c->size[n];
        c->span[n]->next = *evicted;
        *evicted = c->span[n++];
    }
    if (n != 0)
        cache_drop(c, 0, n);
}

/* Puts h, marked cached, in its shard as freed at now; the spans evicted
 * to make room go on *evicted (linked through next), for the caller to
 * unmap once no lock is held. */
static void cache_put_at(struct hak_large *h, uint64_t now, struct hak_large **evicted)
{
    size_t room = span_room(h);
    struct large_shard *c = shard_for(room);
    pthread_mutex_lock(&c->lock);
    /* The oldest go, as many as make room, in one move of the rest. */
    shard_evict(c, room, 1, evicted);
    c->span[c->n] = h;
    c->size[c->n] = room;
    c->freed_ms[c->n] = now;
    HAK_RELAXED_SET(c->n, c->n + 1);
    atomic_fetch_add_explicit(&cached_bytes, room, memory_order_relaxed);
    pthread_mutex_unlock(&c->lock);
    /* Still above the bound: c had too little; the other shards give the
     * rest, one lock at a time. */
    for (unsigned i = 0; i < LARGE_SHARDS; i++) {
        if (atomic_load_explicit(&cached_bytes, memory_order_relaxed) <= HAK_LARGE_CACHE_BYTES)
            break;
        if (&shards[i] == c || HAK_RELAXED_GET(shards[i].n) == 0)
            continue;
        pthread_mutex_lock(&shards[i].lock);
        shard_evict(&shards[i], 0, 0, evicted);
        pthread_mutex_unlock(&shards[i].lock);
    }
}

/* cache_put_at for each span of list (linked through next). */
static void cache_put_list_at(struct hak_large *list, uint64_t now, struct hak_large **evicted)
{
    while (list != NULL) {
        struct hak_large *next = list->next;
        cache_put_at(list, now, evicted);
        list = next;
    }
}

/* Caches the spans of list (linked through next), freed now. */
static HAK_NOINLINE void cache_put(struct hak_large *list)
{
    struct hak_large *evicted = NULL;
    cache_put_list_at(list, _hak_now_ms(), &evicted);
    span_unmap_list(evicted);
    _hak_decay_kick();
}

/* A freed span that t does not keep: counted, then cached, or unmapped
 * if larger than the cache takes. */
static HAK_NOINLINE void large_free_slow(struct hak_thread *t, struct hak_large *h)
{
    keep_give_up(t);
    if (t->keeps_span)
        HAK_RELAXED_ADD(t->ctr.large_in, 1);
    else
        atomic_fetch_add_explicit(&stateless_in, 1, memory_order_relaxed);
    if (span_room(h) > HAK_LARGE_CACHE_SPAN_MAX) {
        h->magic = 0;
        span_unmap(h);
        return;
    }
    cache_put(h);
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
    struct hak_thread *t = _hak_tls;
    h->magic = LARGE_MAGIC_CACHED;
    h->next = NULL;
    if (hak_likely(keeps(t, span_room(h)))) {
        HAK_RELAXED_ADD(t->ctr.large_in, 1);
        if ((h = keep_put(t, h)) != NULL)
            cache_put(h);
        return true;
    }
    large_free_slow(t, h);
    return true;
}

struct keep_detach {
    struct hak_thread *t;
    struct hak_large *list;
};

/* Under the registry's lock: no purger takes the spans meanwhile. */
static void keep_detach(void *arg)
{
    struct keep_detach *d = arg;
    d->list = keep_empty(&d->t->keep);
}

void _hak_large_thread_exit(struct hak_thread *t)
{
    /* Nothing adds to t's keep now (t is past its destructor's start), so
     * one seen empty stays empty. */
    if (HAK_RELAXED_GET(t->keep.n) == 0)
        return;
    struct keep_detach d = {.t = t};
    _hak_thread_locked(keep_detach, &d);
    if (d.list != NULL)
        cache_put(d.list);
}

struct keep_sweep {
    uint64_t now;
    struct hak_large *evicted;
    bool asked, fenced;
};

/* The purger's side of the keeps' Dekker pair (the top of this file),
 * under the registry's lock: it asks every thread with spans, makes one
 * heavy fence for all, then takes the spans of each thread not busy (a
 * thread that enters its keep meanwhile sees the request and backs out).
 * A busy thread keeps its spans to the next pass. */
static void keep_ask(struct hak_thread *t, void *arg)
{
    struct keep_sweep *sw = arg;
    if (HAK_RELAXED_GET(t->keep.n) != 0) {
        atomic_store_explicit(&t->keep.steal, 1, memory_order_relaxed);
        sw->asked = true;
    }
}

static void keep_steal(struct hak_thread *t, void *arg)
{
    struct keep_sweep *sw = arg;
    if (atomic_load_explicit(&t->keep.steal, memory_order_relaxed) == 0)
        return;
    if (sw->fenced && atomic_load_explicit(&t->keep.busy, memory_order_acquire) == 0)
        cache_put_list_at(keep_empty(&t->keep), sw->now, &sw->evicted);
    atomic_store_explicit(&t->keep.steal, 0, memory_order_release);
}

static void keeps_sweep(void *arg)
{
    struct keep_sweep *sw = arg;
    _hak_thread_each_locked(keep_ask, sw);
    if (!sw->asked)
        return;
    sw->fenced = _hak_fence_heavy();
    _hak_thread_each_locked(keep_steal, sw);
}

/* Unmaps the cached spans older than the decay (all of them if all);
 * returns bytes released. The spans threads keep go to the cache first:
 * there they wait the decay like the others, and the all of a trim
 * reaches them. */
size_t _hak_large_purge(uint64_t now, bool all)
{
    struct keep_sweep sw = {.now = now};
    /* A try of the registry's lock: a purge may run under the orphan
     * heap's locks (map.c's retry), which fork takes after the
     * registry's. The caller's own keep, if the sweep left it (another
     * purge held the lock, or the heavy fence failed), needs no lock. */
    _hak_thread_locked_try(keeps_sweep, &sw);
    struct hak_thread *self = _hak_tls;
    if (self->keeps_span && HAK_RELAXED_GET(self->keep.n) != 0)
        cache_put_list_at(keep_take_all(self), now, &sw.evicted);
    size_t bytes = span_unmap_list(sw.evicted);
    struct hak_large *old = NULL;
    for (unsigned s = 0; s < LARGE_SHARDS; s++) {
        struct large_shard *c = &shards[s];
        pthread_mutex_lock(&c->lock);
        size_t kept = 0;
        for (size_t i = 0; i < c->n; i++) {
            struct hak_large *h = c->span[i];
            if (all || now - c->freed_ms[i] >= _hak_opt.decay_ms) {
                h->next = old;
                old = h;
                atomic_fetch_sub_explicit(&cached_bytes, c->size[i], memory_order_relaxed);
            } else {
                c->size[kept] = c->size[i];
                c->freed_ms[kept] = c->freed_ms[i];
                c->span[kept++] = h;
            }
        }
        HAK_RELAXED_SET(c->n, kept);
        pthread_mutex_unlock(&c->lock);
    }
    return bytes + span_unmap_list(old);
}

/* The statistics' count, under the registry's lock for the whole walk:
 * the purger moves kept spans to the cache only with that lock, so the
 * cache is read in the same section (once; with no thread registered no
 * span is kept). */
struct large_count {
    size_t kept, cached;
    bool read;
};

static size_t cached_spans(void)
{
    size_t n = 0;
    for (unsigned s = 0; s < LARGE_SHARDS; s++) {
        pthread_mutex_lock(&shards[s].lock);
        n += shards[s].n;
        pthread_mutex_unlock(&shards[s].lock);
    }
    return n;
}

static void count_kept(struct hak_thread *t, void *arg)
{
    struct large_count *c = arg;
    c->kept += HAK_RELAXED_GET(t->keep.n);
    if (!c->read) {
        c->cached = cached_spans();
        c->read = true;
    }
}

static struct large_count large_count(void)
{
    struct large_count c = {0};
    _hak_thread_each(count_kept, &c);
    if (!c.read)
        c.cached = cached_spans();
    return c;
}

bool _hak_large_dirty(void)
{
    struct large_count c = large_count();
    return c.kept + c.cached != 0;
}

void _hak_large_stats(uint64_t *out, uint64_t *in, size_t *cached, size_t *mapped)
{
    *out = atomic_load_explicit(&stateless_out, memory_order_relaxed);
    *in = atomic_load_explicit(&stateless_in, memory_order_relaxed);
    *mapped = atomic_load_explicit(&mapped_bytes, memory_order_relaxed);
    struct large_count c = large_count();
    *cached = c.kept + c.cached;
}

void _hak_large_fork_prepare(void)
{
    for (unsigned s = 0; s < LARGE_SHARDS; s++)
        pthread_mutex_lock(&shards[s].lock);
}

static void fork_release(void)
{
    for (unsigned s = LARGE_SHARDS; s-- > 0;)
        pthread_mutex_unlock(&shards[s].lock);
}

void _hak_large_fork_parent(void) { fork_release(); }
/* A thread of the parent that was inside its keep (never the forking
 * one, which is in fork) may have left it half changed, a span in it
 * twice: in the child its spans are forgotten, as its other slabs are. No
 * purger was taking them: fork holds the registry's lock, which this runs
 * under. */
static void keep_forget(struct hak_thread *t, void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&t->keep.busy, memory_order_relaxed)) {
        t->keep.bytes = 0;
        HAK_RELAXED_SET(t->keep.n, 0);
        atomic_store_explicit(&t->keep.busy, 0, memory_order_relaxed);
    }
}

void _hak_large_fork_child(void)
{
    _hak_thread_each_locked(keep_forget, NULL);
    fork_release();
}
