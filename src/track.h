/* hakmem: annotations for valgrind's memcheck (after mimalloc's
 * include/mimalloc/track.h).
 *
 * Memcheck knows the blocks of an allocator only if it can intercept its
 * malloc, and then hakmem does not run at all. So, built with valgrind
 * support (configure --enable-valgrind, the default when
 * valgrind/valgrind.h is found) and running under valgrind, hakmem tells
 * memcheck itself, with client requests, which memory is whose:
 *
 *   hak_track_malloc(p, size, zeroed)   p is handed out, size bytes (MALLOCLIKE)
 *   hak_track_free(p)                   p is taken back (FREELIKE); if p is
 *                                       not a live block memcheck reports
 *                                       an invalid free
 *   hak_track_resize(p, old, new)       realloc in place (RESIZEINPLACE)
 *   hak_track_mem_noaccess/undefined/defined(p, n)
 *
 * Built without valgrind support every hook is a no-op and HAK_TRACK_ON is
 * the constant false. Built with it, a client request outside valgrind is
 * a few instructions that do nothing; the per-link hooks below are also
 * skipped unless HAK_TRACK_ON, and the fast paths carry no hook at all.
 *
 * Invariants while HAK_TRACK_ON (decided once, at the start of _hak_init,
 * before the first block is handed out):
 *   - Every malloc and free takes the slow path: a thread's _hak_tls stays
 *     the empty thread, whose caches always miss and refuse (thread.c), and
 *     the slow paths hand the call to the track layer (track.c). So the
 *     inline fast paths need no hook and cost nothing more for having them.
 *   - Every byte of a SuperSlab but its header struct and the bytes the
 *     program holds is NOACCESS: free blocks (in a cache tier, a slab free
 *     list or a remote queue), redzones, uncarved blocks, free slabs.
 *     hakmem opens a free block's link word (its first word) only for the
 *     instant it reads or writes it, with _hak_link_get/_hak_link_set, or
 *     _hak_link_open/_hak_link_close around an inline fast-path operation
 *     that a slow path reuses.
 *   - The layout of a block the program holds is in track.c: redzones on
 *     both sides of a small block, after a large one, and the size asked
 *     for, scrambled, in the block's last word. A freed small block waits
 *     in track.c's quarantine before the tiers get it back.
 */
#ifndef HAK_TRACK_H
#define HAK_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "compiler.h"

/* Running under valgrind, with valgrind support built in (init.c).
 * Hidden: one RIP-relative load where it is tested. */
extern bool _hak_track_on __attribute__((visibility("hidden")));

#if HAK_TRACK_VALGRIND

#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

#define HAK_TRACK_ON hak_unlikely(_hak_track_on)
#define hak_track_running() (RUNNING_ON_VALGRIND != 0)

/* Redzones are hakmem's layout (track.c), so memcheck is told none. */
#define hak_track_malloc(p, size, zeroed) VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed))
#define hak_track_free(p) VALGRIND_FREELIKE_BLOCK((p), 0)
#define hak_track_resize(p, oldsize, newsize)                                                  \
    VALGRIND_RESIZEINPLACE_BLOCK((p), (oldsize), (newsize), 0)
#define hak_track_mem_noaccess(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define hak_track_mem_undefined(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define hak_track_mem_defined(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

#else

#define HAK_TRACK_ON false
#define hak_track_running() false
#define hak_track_malloc(p, size, zeroed) ((void)0)
#define hak_track_free(p) ((void)0)
#define hak_track_resize(p, oldsize, newsize) ((void)0)
#define hak_track_mem_noaccess(p, n) ((void)0)
#define hak_track_mem_undefined(p, n) ((void)0)
#define hak_track_mem_defined(p, n) ((void)0)

#endif

/* ---- free-list links: the first word of a free block ---- */

/* track.c: the annotated accesses, out of line so that the client
 * requests' stack frames stay out of the callers. */
void *_hak_track_link_get(const void *b);
void _hak_track_link_set(void *b, void *next);
void _hak_track_link_open(const void *b);
void _hak_track_link_close(const void *b);

/* track: a constant where a function is instantiated both ways, so its
 * plain instance has no hook, not even the test (superslab.c, sll.h). */
HAK_INLINE void *_hak_link_get_if(bool track, const void *b)
{
    if (HAK_TRACK_VALGRIND && track)
        return _hak_track_link_get(b);
    return *(void *const *)b;
}

HAK_INLINE void *_hak_link_get(const void *b)
{
    return _hak_link_get_if(HAK_TRACK_ON, b);
}

HAK_INLINE void _hak_link_set_if(bool track, void *b, void *next)
{
    if (HAK_TRACK_VALGRIND && track)
        _hak_track_link_set(b, next);
    else
        *(void **)b = next;
}

HAK_INLINE void _hak_link_set(void *b, void *next)
{
    _hak_link_set_if(HAK_TRACK_ON, b, next);
}

/* Opens (closes) b's link word around an inline operation that reads or
 * writes it; b may be NULL. */
HAK_INLINE void _hak_link_open(const void *b)
{
    if (HAK_TRACK_ON && b != NULL)
        _hak_track_link_open(b);
}

HAK_INLINE void _hak_link_close(const void *b)
{
    if (HAK_TRACK_ON && b != NULL)
        _hak_track_link_close(b);
}

/* ---- track.c: malloc & co. under valgrind (api.c diverts to these) ---- */
void *_hak_track_alloc(size_t alignment, size_t size, bool zero);
void _hak_track_free(void *p);
void *_hak_track_realloc(void *p, size_t size);
size_t _hak_track_usable_size(const void *p);
/* Small blocks freed by the program that hakmem has not taken back yet. */
size_t _hak_track_quarantined(void);

#endif /* HAK_TRACK_H */
