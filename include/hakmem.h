/* hakmem: a configurable malloc for Linux.
 *
 * This header is the whole public API. Every function here is safe to call
 * before hakmem has initialised itself, from any thread, and after fork().
 * The hak_* allocation functions behave exactly like their C library
 * namesakes (errno = ENOMEM on failure, NULL for overflowing requests); they
 * are the same code the malloc/free symbols exported by libhakmem.so run.
 * A library built with --with-malloc-prefix=PREFIX exports no malloc/free
 * and names these PREFIXmalloc, ...: hakmem_names.h maps the names.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdio.h>

#include "hakmem_names.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HAK_API __attribute__((visibility("default")))
#define HAK_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define HAK_API
#define HAK_MALLOC_ATTR
#endif

/* Allocation, with the C library's semantics. */
HAK_API void *hak_malloc(size_t size) HAK_MALLOC_ATTR;
HAK_API void *hak_calloc(size_t nmemb, size_t size) HAK_MALLOC_ATTR;
HAK_API void *hak_realloc(void *ptr, size_t size);
HAK_API void *hak_reallocarray(void *ptr, size_t nmemb, size_t size);
HAK_API void hak_free(void *ptr);
/* alignment: a power of two; NULL and errno = EINVAL otherwise. */
HAK_API void *hak_aligned_alloc(size_t alignment, size_t size) HAK_MALLOC_ATTR;
/* Returns 0, EINVAL (bad alignment) or ENOMEM; *memptr is set only on 0. */
HAK_API int hak_posix_memalign(void **memptr, size_t alignment, size_t size);
/* Bytes usable at ptr (>= the size asked for); 0 for NULL. */
HAK_API size_t hak_usable_size(const void *ptr);

/* Returns free memory to the OS: flushes the calling thread's caches and
 * releases every empty slab and SuperSlab. Returns the bytes released.
 * malloc_trim() calls this. */
HAK_API size_t hak_trim(void);

/* "major.minor.patch" of the library actually loaded. */
HAK_API const char *hak_version(void);
/* The configure-time tier plan, top first, e.g. "fast,tls-list,superslab". */
HAK_API const char *hak_tier_plan(void);

/* A snapshot of the heap. Exact when no other thread allocates or frees at
 * the time of the call; approximate (but never torn per field) otherwise. */
struct hak_stats {
    size_t live_small_blocks;   /* small blocks held by the program */
    size_t live_large_blocks;   /* large spans held by the program */
    size_t cached_blocks;       /* small blocks in the cache tiers */
    size_t superslabs;          /* SuperSlabs mapped */
    size_t mapped_bytes;        /* bytes mapped from the OS (small + large) */
    size_t large_cached_spans;  /* freed large spans kept for reuse */
    size_t threads;             /* threads with hakmem state */
    size_t remote_frees;        /* blocks freed by a thread not owning them */
    size_t adoptions;           /* abandoned slabs taken over */
};
/* Fills *out (out_size = sizeof *out, for ABI growth); returns 0, or -1 if
 * out_size is smaller than the first version of the struct. */
HAK_API int hak_stats_get(struct hak_stats *out, size_t out_size);
/* Statistics as text; HAKMEM_STATS=1 prints them to stderr at exit. */
HAK_API void hak_stats_print(FILE *out);
/* The same as one JSON object (HAKMEM_STATS=json at exit). */
HAK_API void hak_stats_print_json(FILE *out);

/* Debug builds (--enable-debug) with HAKMEM_TINY_TRACE_RING=1: writes the
 * calling thread's last allocator events to stderr. Release builds say
 * that the ring is not compiled in. */
HAK_API void hak_trace_dump(void);

/* Walks all of hakmem's metadata and reports each inconsistency on
 * stderr; returns how many it found (0: the heap is sound). Exact when no
 * other thread allocates or frees during the call. */
HAK_API int hak_heap_check(void);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_H */
