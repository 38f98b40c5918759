/* hakmem: internal interfaces, grouped by the file that defines them.
 *
 * Layering (a file includes only layers below its own):
 *   libc.c, meta.c, map.c        utilities with no allocator state
 *   backends/                    where memory comes from (backend.h)
 *   tiers/superslab.c            the terminal tier: owns small-block memory
 *   tiers/<cache>.c              cache tiers (tier.h)
 *   stack.c                      walks the configured plan
 *   thread.c, init.c             per-thread and process state
 *   api.c, stats.c               the hak_* functions
 *   shim/override.c              malloc & co. for interposition
 */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "compiler.h"
#include "diag.h"
#include "types.h"
#include "sizeclass.h"
#include "track.h"


/* ---- libc.c: the few C library services the allocator may use ---- */
/* write(2) of a NUL-terminated string to stderr; async-signal-safe. */
void _hak_write_str(const char *s);
/* Parses an unsigned decimal (optionally with k/m/g suffix when allow_suffix).
 * Returns false if s is not entirely a number. */
bool _hak_parse_size(const char *s, bool allow_suffix, uint64_t *out);
/* Formats v in decimal into buf (>= 21 bytes); returns buf. */
char *_hak_utoa(uint64_t v, char *buf);
/* Formats p as 0x + 16 hex digits into buf (>= 19 bytes); returns buf. */
char *_hak_hex(const void *p, char *buf);

/* ---- meta.c: allocator metadata that is never handed to the program ---- */
void *_hak_meta_alloc(size_t size);             /* zeroed, 64-byte aligned, never freed */
void _hak_meta_fork_prepare(void);
void _hak_meta_fork_parent(void);
void _hak_meta_fork_child(void);

/* ---- map.c: the chunk map (2 MiB granularity, two levels) ---- */
#define HAK_MAP_ADDR_BITS 47
#define HAK_MAP_LEAF_BITS 13
#define HAK_MAP_ROOT_BITS (HAK_MAP_ADDR_BITS - HAK_CHUNK_SHIFT - HAK_MAP_LEAF_BITS)
extern _Atomic(_Atomic(uintptr_t) *) _hak_map_root[1u << HAK_MAP_ROOT_BITS];

/* The tagged entry for the chunk holding p: 0 (foreign) or region | kind.
 * Reads only hakmem's own metadata, never memory at p. */
HAK_INLINE uintptr_t _hak_map_lookup(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (hak_unlikely(a >> HAK_MAP_ADDR_BITS))
        return 0;
    uintptr_t chunk = a >> HAK_CHUNK_SHIFT;
    _Atomic(uintptr_t) *leaf = atomic_load_explicit(
        &_hak_map_root[chunk >> HAK_MAP_LEAF_BITS], memory_order_acquire);
    if (hak_unlikely(leaf == NULL))
        return 0;
    return atomic_load_explicit(&leaf[chunk & ((1u << HAK_MAP_LEAF_BITS) - 1)],
                                memory_order_acquire);
}
/* The free fast path's question, in one load: is p in a SuperSlab? One bit
 * per chunk of the address space below 2^47 (8 MiB of zero pages, touched
 * only where SuperSlabs are), set exactly while the chunk's map entry says
 * HAK_CHUNK_SS. In 32-bit words: the bit's index within its word is then
 * the chunk number itself (x86's bt takes it modulo 32), one mask fewer. */
#define HAK_SS_BITS_WORDS ((size_t)1 << (HAK_MAP_ADDR_BITS - HAK_CHUNK_SHIFT - 5))
extern _Atomic uint32_t _hak_ss_bits[HAK_SS_BITS_WORDS];
HAK_INLINE bool _hak_is_ss(const void *p)
{
    uintptr_t i = (uintptr_t)p >> (HAK_CHUNK_SHIFT + 5);
    if (hak_unlikely(i >= HAK_SS_BITS_WORDS))
        return false;
    uint32_t bits = atomic_load_explicit(&_hak_ss_bits[i], memory_order_relaxed);
    return (bits >> (((uintptr_t)p >> HAK_CHUNK_SHIFT) & 31)) & 1;
}
/* Marks the chunks [base, base + size) touches as kind, their entries
 * pointing at base (which need not be chunk-aligned: a large span's header
 * is coloured); false on OOM. */
bool _hak_map_set(void *base, size_t size, enum hak_chunk_kind kind);
/* size bytes from the backend, aligned to align and marked as kind, with
 * the decay's waiting memory given back first if that is what it takes;
 * returns the address head bytes past their start, at which the entries
 * point (head below a chunk), or NULL (errno set) if the backend or the
 * map has none. */
void *_hak_map_reserve(size_t size, size_t align, size_t head, enum hak_chunk_kind kind);
void _hak_map_clear(void *base, size_t size);
/* The region at base, marked as kind, changed from old_size to new_size
 * bytes: marks the chunks it gained, clears those it left; false on OOM
 * (nothing changed). */
bool _hak_map_resize(void *base, size_t old_size, size_t new_size, enum hak_chunk_kind kind);

struct hak_tier_stats;

#if HAK_INITIAL_EXEC_TLS
#define HAK_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define HAK_TLS_MODEL
#endif

/* ---- fence.c: asymmetric fences ---- */
extern bool _hak_fence_asym;
extern _Atomic bool _hak_fence_failed;
void _hak_fence_init(void);
/* The owner's side of a StoreLoad pairing (fence.c): orders its store
 * before its load. */
static inline void _hak_fence_light(void)
{
    if (hak_likely(_hak_fence_asym))
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
}
/* The visitor's side: false if the barrier could not be made, and then
 * what it loads next may be stale. */
bool _hak_fence_heavy(void);
void _hak_fence_fork_child(void);

/* ---- decay.c: giving memory back to the OS ---- */
uint64_t _hak_now_ms(void);
/* Brackets a section in which the thread's allocator state may be
 * halfway changed, or holding a lock an allocation may need: a kick inside
 * it that would start the purger thread (pthread_create allocates) is
 * carried out when the outermost section ends. Inline: every malloc and
 * free slow path is one. */
extern __thread unsigned _hak_decay_depth HAK_TLS_MODEL;
extern __thread bool _hak_decay_start_held HAK_TLS_MODEL;
void _hak_decay_start_now(void);
static inline void _hak_decay_hold(void) { _hak_decay_depth++; }
static inline void _hak_decay_release(void)
{
    if (--_hak_decay_depth == 0 && hak_unlikely(_hak_decay_start_held))
        _hak_decay_start_now();
}
/* Everything purgeable now, whatever its age (hak_trim). */
size_t _hak_decay_purge_all(void);
void _hak_decay_fork_child(void);

/* ---- crash.c ---- */
void _hak_crash_install(void);

/* ---- tiers/superslab.c ---- */
#include "tiers/superslab.h"

/* ---- backends/large.c ---- */
/* A block of size bytes aligned to alignment (a power of two), zeroed if
 * zero; NULL with errno = ENOMEM on failure. */
void *_hak_large_alloc(size_t size, size_t alignment, bool zero);
enum hak_large_kind {
    HAK_LARGE_OURS,             /* a live large block; *usable is set */
    HAK_LARGE_BAD,              /* inside a span of ours but not a live block */
    HAK_LARGE_FOREIGN,          /* in a chunk of ours, outside the span */
};
/* entry: the chunk map entry of p (kind HAK_CHUNK_LARGE). */
enum hak_large_kind _hak_large_check(const void *p, uintptr_t entry, size_t *usable);
/* Frees p if it is ours (reporting a bad pointer inside a span); false if
 * p is foreign. */
bool _hak_large_free(void *p, uintptr_t entry);
/* The live large block whose map entry is entry (the block checked)
 * resized to hold size bytes, its contents kept, without a copy: its
 * address, old or new, or NULL if only a copy can do it (unchanged). */
void *_hak_large_resize(uintptr_t entry, size_t size);
/* Moves the spans threads keep to the cache, then unmaps the cached spans
 * that waited decay_ms (all if all); returns bytes released. */
size_t _hak_large_purge(uint64_t now_ms, bool all);
bool _hak_large_dirty(void);
/* t's kept spans to the cache: t is exiting. */
void _hak_large_thread_exit(struct hak_thread *t);
/* The large mallocs and frees of threads without a registered state (the
 * others' are in their counters), the spans cached or kept by threads, and
 * the bytes mapped for spans. */
void _hak_large_stats(uint64_t *out, uint64_t *in, size_t *cached, size_t *mapped);
void _hak_large_fork_prepare(void);
void _hak_large_fork_parent(void);
void _hak_large_fork_child(void);

/* ---- thread.c ---- */
extern __thread struct hak_thread *_hak_tls;
extern struct hak_thread _hak_thread_empty;
/* The calling thread's state, initialised (or the orphan heap, locked, for a
 * thread past its exit destructor: then *locked is set and the caller must
 * _hak_orphan_unlock()). */
struct hak_thread *_hak_thread_get(bool *locked);
void _hak_orphan_unlock(void);
void _hak_thread_global_init(void);
/* Flushes the caller's caches, then gives back every empty slab and
 * SuperSlab; returns bytes released. */
size_t _hak_thread_trim(void);
/* Counters of cache tier `level` for class cls, over every thread. */
void _hak_thread_tier_stats(unsigned level, unsigned cls, struct hak_tier_stats *out);
/* Every blocks count and counter of the live threads, summed. */
void _hak_thread_sum(struct hak_ss_counters *ctr, uint64_t *cached, size_t *nthreads);
/* fn on the state of every live thread, under the registry lock: fn may
 * only trylock their heap locks (a thread holds its own while it waits
 * for the registry lock). */
void _hak_thread_each(void (*fn)(struct hak_thread *t, void *arg), void *arg);
/* The same if the registry lock is free at once (false if it was not):
 * for callers that may hold locks it comes after (the orphan heap's). */
bool _hak_thread_each_try(void (*fn)(struct hak_thread *t, void *arg), void *arg);
/* fn(arg) under the registry lock, and the same if the lock is free at
 * once; fn may walk the live threads with _hak_thread_each_locked. */
void _hak_thread_locked(void (*fn)(void *arg), void *arg);
bool _hak_thread_locked_try(void (*fn)(void *arg), void *arg);
void _hak_thread_each_locked(void (*fn)(struct hak_thread *t, void *arg), void *arg);
void _hak_thread_fork_prepare(void);
void _hak_thread_fork_parent(void);
void _hak_thread_fork_child(void);

/* ---- run-time knobs (read in init.c, used by the tiers) ---- */
/* The arena backend's size: address space only until touched, so the
 * default is generous; the ceiling keeps its bitmap (a bit per 2 MiB) and
 * first-fit scans small. */
#define HAK_DEFAULT_ARENA_SIZE ((uint64_t)4 << 30)
#define HAK_ARENA_SIZE_MAX ((uint64_t)1 << 40)
#define HAK_FAST_CAP_MAX 128            /* slots per class in the fast tier */
#define HAK_DEFAULT_FAST_CAP 64
#define HAK_DEFAULT_ULTRA_CAP 64
#define HAK_MAG_CAP_MAX 128             /* rounds per magazine */
#define HAK_DEFAULT_MAG_CAP 64
#define HAK_DEFAULT_TLS_LIST_CAP 128
#define HAK_DEFAULT_MAG_DEPOT 0         /* full magazines per class in the depot */
/* Free memory is given back to the OS after this long unused: long enough
 * that a program freeing and reallocating in waves does not fault its pages
 * in again every wave, short enough that an idle program shrinks within a
 * second (jemalloc's dirty decay is 10 s; mimalloc purges after 10 ms). */
#define HAK_DEFAULT_DECAY_MS 1000

/* ---- init.c ---- */
/* Process-wide set-up; idempotent, cheap after the first call. */
void _hak_init(void);
extern _Atomic int _hak_init_state;             /* 0 none, 1 running, 2 done */
struct hak_options {
    uint64_t arena_size;                /* HAKMEM_ARENA_SIZE, bytes */
    uint32_t fast_cap, ultra, ultra_cap, tls_list, tls_list_cap, mag_cap, mag_depot;
    uint32_t trace, crash_handler, stats, decay_ms;
};
extern struct hak_options _hak_opt;

/* ---- decay.c: the kick, which needs the options ---- */
/* Something became purgeable: make sure the purger will look at it.
 * What the caller made purgeable is ordered before the look at pending:
 * else, even on x86, the look may pass the caller's store and read true
 * while the purger clears it and sees nothing to wait for. The purger's
 * heavy fence pairs with this light one (fence.c). */
extern _Atomic bool _hak_decay_pending;
void _hak_decay_wake(void);
static inline void _hak_decay_kick(void)
{
    if (_hak_opt.decay_ms == 0)
        return;
    _hak_fence_light();
    if (!atomic_load_explicit(&_hak_decay_pending, memory_order_relaxed))
        _hak_decay_wake();
}

/* The C library's own malloc, for pointers hakmem did not hand out. NULL
 * where there is none (static link). */
struct hak_libc_malloc {
    void (*free)(void *);
    void *(*realloc)(void *, size_t);
    size_t (*usable_size)(void *);
};
extern struct hak_libc_malloc _hak_libc;

/* ---- stack.c: the plan ---- */
void *_hak_stack_alloc(struct hak_thread *t, unsigned cls);
void _hak_stack_free(struct hak_thread *t, unsigned cls, void *b);
void _hak_stack_flush_level(struct hak_thread *t, unsigned level);
/* Every cache tier of t flushed down to the SuperSlab tier. */
void _hak_stack_flush(struct hak_thread *t);
uint64_t _hak_stack_cached(const struct hak_thread *t);
/* Blocks held by tiers outside any thread (the magazine depot). */
uint64_t _hak_stack_shared_cached(void);
/* Flushes t's caches and the tiers' shared caches down to the slabs. */
void _hak_stack_trim(struct hak_thread *t);
void _hak_stack_fork(int phase);         /* enum hak_fork_phase */

/* ---- api.c ---- */
void *_hak_alloc_aligned(size_t alignment, size_t size);
/* The slow path of hak_free for anything not in a SuperSlab. */
void _hak_free_other(void *p, uintptr_t entry);
/* Report of a pointer hakmem cannot free: never corrupts anything. */
void _hak_bad_pointer(const char *fn, const void *p);

#endif /* HAK_INTERNAL_H */
