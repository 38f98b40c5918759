/* hakmem: malloc & co. as they run under valgrind (invariants in track.h).
 *
 * api.c hands every slow path here while HAK_TRACK_ON, and under valgrind
 * every call is a slow path, so this is the whole allocation API there.
 * Blocks come from the same tiers as always; around them this file keeps
 * memcheck informed and lays each block out with redzones:
 *
 *   small:  q        p = q + lead              p + size             q + usable
 *           | redzone | the program's size bytes | redzone    | tag |
 *   large:  q = p                              p + size             q + usable
 *           | the program's size bytes          | redzone    | tag |
 *
 * q is the block hakmem's tiers deal in (class size or span), usable its
 * size. lead is 16 bytes, or the alignment asked for if larger, so p keeps
 * every alignment promise. Memcheck knows the block as [p, p + size)
 * (MALLOCLIKE) and everything else in q is NOACCESS, so a one-byte
 * overflow or underflow is reported at once. The leading redzone has a
 * second use: hakmem's metadata holds block addresses q (a slab's end is
 * the next slab's first block, a cache array keeps stale entries), and
 * since q is outside [p, p + size) none of them can make a leaked block
 * look reachable to memcheck's leak check. Large spans already start
 * after a header, so they get no leading redzone.
 *
 * The tag, the last word of q, is TAG_KEY ^ p ^ size while the block is
 * live and 0 once it is freed. It is how hakmem knows that p is a block it
 * handed out before trusting it (a double free, a free of an interior
 * pointer or a realloc of a freed block is reported by memcheck, through
 * FREELIKE, and otherwise ignored instead of corrupting a free list), and
 * where realloc and malloc_usable_size find the size asked for. With the
 * key, neither garbage nor a cleared tag decodes to a size that fits.
 *
 * malloc_usable_size(p) is the size asked for, as under memcheck's own
 * malloc: the program may use no more, and the redzone starts right
 * after it.
 *
 * A small block the program frees waits in a quarantine, oldest out
 * first, before its slab gets it back: slab free lists are LIFO, so the
 * next malloc of the class would hand out the block just freed, and an
 * access through a stale pointer would then look like one to the new
 * block. Memcheck's own malloc delays reuse the same way (--freelist-vol).
 * Large blocks go back at once: their spans are the large backend's to
 * cache or unmap. Quarantined blocks count as cached in the statistics.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "track.h"

#define TAG_KEY 0x9e3779b97f4a7c15ull
/* Bounds of the quarantine; memcheck's own is 20 MB by default. */
#define QUARANTINE_BLOCKS ((size_t)1 << 16)
#define QUARANTINE_BYTES ((size_t)16 << 20)
#define LEAD_MIN HAK_ALIGN                      /* leading redzone of a small block */
#define TAIL ((size_t)16)                       /* trailing redzone, tag included */

static uint64_t tag_of(const void *p, size_t size)
{
    return TAG_KEY ^ (uint64_t)(uintptr_t)p ^ (uint64_t)size;
}

static void tag_write(void *q, size_t usable, uint64_t v)
{
    char *at = (char *)q + usable - sizeof v;
    hak_track_mem_undefined(at, sizeof v);
    memcpy(at, &v, sizeof v);
    hak_track_mem_noaccess(at, sizeof v);
}

static uint64_t tag_read(const void *q, size_t usable)
{
    const char *at = (const char *)q + usable - sizeof(uint64_t);
    uint64_t v;
    hak_track_mem_defined(at, sizeof v);
    memcpy(&v, at, sizeof v);
    hak_track_mem_noaccess(at, sizeof v);
    return v;
}

HAK_COLD void *_hak_track_link_get(const void *b)
{
    hak_track_mem_defined(b, sizeof(void *));
    void *next = *(void *const *)b;
    hak_track_mem_noaccess(b, sizeof(void *));
    return next;
}

HAK_COLD void _hak_track_link_set(void *b, void *next)
{
    hak_track_mem_undefined(b, sizeof(void *));
    *(void **)b = next;
    hak_track_mem_noaccess(b, sizeof(void *));
}

HAK_COLD void _hak_track_link_open(const void *b)
{
    hak_track_mem_defined(b, sizeof(void *));
}

HAK_COLD void _hak_track_link_close(const void *b)
{
    hak_track_mem_noaccess(b, sizeof(void *));
}

/* What a pointer given to free, realloc or malloc_usable_size is. */
enum kind { LIVE, NOT_LIVE, FOREIGN };

struct block {
    void *q;                    /* the tiers' block */
    size_t usable;              /* its size */
    size_t size;                /* LIVE: the size asked for */
    uintptr_t entry;            /* the chunk map entry */
};

/* Reads only hakmem's metadata and, once p is known to lie in one of its
 * blocks q, q's tag, which is never part of a live block. */
static enum kind classify(const void *p, struct block *b)
{
    b->entry = _hak_map_lookup(p);
    switch (b->entry & HAK_CHUNK_KIND_MASK) {
    case HAK_CHUNK_SS: {
        const struct hak_slab *s = _hak_slab_of(p);
        if (!s->in_use || (const char *)p >= _hak_slab_end(s))
            return NOT_LIVE;
        size_t off = (size_t)((const char *)p - _hak_slab_start(s));
        size_t lead = off % s->block_size;
        if (lead < LEAD_MIN || lead + TAIL > s->block_size)
            return NOT_LIVE;
        b->q = (char *)p - lead;
        b->usable = s->block_size;
        size_t room = b->usable - lead - TAIL;
        b->size = (size_t)(tag_read(b->q, b->usable) ^ tag_of(p, 0));
        return b->size <= room ? LIVE : NOT_LIVE;
    }
    case HAK_CHUNK_LARGE:
        switch (_hak_large_check(p, b->entry, &b->usable)) {
        case HAK_LARGE_OURS:
            break;
        case HAK_LARGE_BAD:
            return NOT_LIVE;
        case HAK_LARGE_FOREIGN:
            return FOREIGN;
        }
        b->q = (void *)p;
        b->size = (size_t)(tag_read(b->q, b->usable) ^ tag_of(p, 0));
        return b->size <= b->usable - TAIL ? LIVE : NOT_LIVE;
    default:
        return FOREIGN;
    }
}

static void *alloc_small(size_t alignment, size_t lead, size_t size, bool zero)
{
    /* The smallest class that fits whose size is a multiple of the
     * alignment, so q, and then p = q + lead, are aligned. */
    unsigned cls = hak_size_class(lead + size + TAIL);
    while (hak_class_size(cls) & (alignment - 1))
        cls++;
    char *q = _hak_alloc_class(cls);
    if (q == NULL)
        return NULL;
    char *p = q + lead;
    tag_write(q, hak_class_size(cls), tag_of(p, size));
    hak_track_malloc(p, size, zero);
    if (zero)
        memset(p, 0, size);
    return p;
}

static void *alloc_large(size_t alignment, size_t size, bool zero)
{
    if (size > SIZE_MAX - TAIL) {
        errno = ENOMEM;
        return NULL;
    }
    /* Never zeroed by the backend: a span from its cache is NOACCESS until
     * memcheck knows it as the program's, so it is zeroed here, after. */
    char *p = _hak_large_alloc(size + TAIL, alignment, false);
    if (p == NULL)
        return NULL;
    size_t usable;
    _hak_large_check(p, _hak_map_lookup(p), &usable);
    /* A fresh span is defined, as mapped: all but the block goes NOACCESS. */
    hak_track_mem_noaccess(p + size, usable - size);
    tag_write(p, usable, tag_of(p, size));
    hak_track_malloc(p, size, zero);
    if (zero)
        memset(p, 0, size);
    return p;
}

void *_hak_track_alloc(size_t alignment, size_t size, bool zero)
{
    size_t lead = alignment > LEAD_MIN ? alignment : LEAD_MIN;
    if (size <= HAK_SMALL_MAX && lead <= HAK_SMALL_MAX && lead + size + TAIL <= HAK_SMALL_MAX)
        return alloc_small(alignment, lead, size, zero);
    return alloc_large(alignment, size, zero);
}

/* ---- the quarantine: a ring of small blocks, under its lock ---- */

/* Outermost lock: held while blocks go back to the tiers, never taken by
 * them, and taken first at fork (registered after init.c's handlers). */
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static void **quarantine;                       /* metadata, QUARANTINE_BLOCKS */
static size_t quarantine_head, quarantine_n, quarantine_bytes;

static void quarantine_lock_fn(void) { pthread_mutex_lock(&quarantine_lock); }
static void quarantine_unlock_fn(void) { pthread_mutex_unlock(&quarantine_lock); }

static void quarantine_init(void)
{
    quarantine = _hak_meta_alloc(QUARANTINE_BLOCKS * sizeof *quarantine);
    pthread_atfork(quarantine_lock_fn, quarantine_unlock_fn, quarantine_unlock_fn);
}

/* q, a small block memcheck knows as freed, back to the tiers. */
static void take_back(void *q)
{
    HAK_DEBUG(_hak_debug_free("free", q));
    _hak_free_block(q);
}

/* Queues q; takes back the oldest blocks the bounds push out (or q itself
 * if there is no quarantine: out of memory for its ring). */
static void quarantine_put(void *q)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quarantine_init);
    size_t bytes = _hak_slab_of(q)->block_size;
    pthread_mutex_lock(&quarantine_lock);
    if (quarantine == NULL) {
        take_back(q);
    } else {
        while (quarantine_n == QUARANTINE_BLOCKS ||
               (quarantine_n > 0 && quarantine_bytes + bytes > QUARANTINE_BYTES)) {
            void *old = quarantine[quarantine_head];
            quarantine_head = (quarantine_head + 1) % QUARANTINE_BLOCKS;
            quarantine_n--;
            quarantine_bytes -= _hak_slab_of(old)->block_size;
            take_back(old);
        }
        quarantine[(quarantine_head + quarantine_n++) % QUARANTINE_BLOCKS] = q;
        quarantine_bytes += bytes;
    }
    pthread_mutex_unlock(&quarantine_lock);
}

size_t _hak_track_quarantined(void)
{
    pthread_mutex_lock(&quarantine_lock);
    size_t n = quarantine_n;
    pthread_mutex_unlock(&quarantine_lock);
    return n;
}

/* b was classified LIVE: takes it back. */
static void free_live(void *p, const struct block *b)
{
    tag_write(b->q, b->usable, 0);
    hak_track_free(p);
    if ((b->entry & HAK_CHUNK_KIND_MASK) == HAK_CHUNK_SS)
        quarantine_put(b->q);
    else
        _hak_large_free(b->q, b->entry);
}

void _hak_track_free(void *p)
{
    if (p == NULL)
        return;
    struct block b;
    switch (classify(p, &b)) {
    case LIVE:
        free_live(p, &b);
        return;
    case NOT_LIVE:
        /* Memcheck reports the invalid free; hakmem leaves p alone. */
        hak_track_free(p);
        return;
    case FOREIGN:
        _hak_init();
        if (_hak_libc.free != NULL)
            _hak_libc.free(p);          /* memcheck's own, under valgrind */
        else
            hak_track_free(p);
        return;
    }
}

/* In place while the block keeps its redzones and stays at least half
 * used, as api.c's realloc does. */
static bool fits_in_place(size_t usable, size_t overhead, size_t size)
{
    return size <= usable - overhead && size + overhead >= usable / 2;
}

void *_hak_track_realloc(void *p, size_t size)
{
    if (p == NULL)
        return _hak_track_alloc(HAK_ALIGN, size, false);
    struct block b;
    switch (classify(p, &b)) {
    case LIVE:
        break;
    case NOT_LIVE:
        hak_track_free(p);
        errno = EINVAL;
        return NULL;
    case FOREIGN:
        _hak_init();
        if (_hak_libc.realloc != NULL)
            return _hak_libc.realloc(p, size);
        hak_track_free(p);
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) {
        /* glibc: realloc(p, 0) frees p and returns NULL. */
        free_live(p, &b);
        return NULL;
    }
    size_t overhead = (size_t)((char *)p - (char *)b.q) + TAIL;
    if (fits_in_place(b.usable, overhead, size)) {
        tag_write(b.q, b.usable, tag_of(p, size));
        hak_track_resize(p, b.size, size);
        return p;
    }
    void *n = _hak_track_alloc(HAK_ALIGN, size, false);
    if (n == NULL)
        return NULL;
    memcpy(n, p, b.size < size ? b.size : size);
    free_live(p, &b);
    return n;
}

size_t _hak_track_usable_size(const void *p)
{
    if (p == NULL)
        return 0;
    struct block b;
    switch (classify(p, &b)) {
    case LIVE:
        return b.size;
    case NOT_LIVE:
        return 0;
    case FOREIGN:
        break;
    }
    _hak_init();
    return _hak_libc.usable_size != NULL ? _hak_libc.usable_size((void *)p) : 0;
}
