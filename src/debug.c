/* hakmem: the debug build's checks (diag.h): logging, assertions, heap
 * misuse reports, the trace ring, and the per-block live bitmap.
 *
 * Invariant checked on every malloc and free of a small block: a slab's
 * live bit for a block is set exactly while the program holds the block.
 * So a free whose bit is clear is a double free (the first free may still
 * sit in a cache tier), and a free of an address that is not a block
 * start, or not yet carved, was never handed out.
 *
 * Nothing here allocates; reports go to stderr with write(2).
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "hakmem.h"

#if !HAKMEM_BUILD_RELEASE

void _hak_log(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf - 1)
        n = sizeof buf - 2;
    buf[n] = '\n';
    buf[n + 1] = '\0';
    _hak_write_str(buf);
}

_Noreturn void _hak_assert_fail(const char *expr, const char *file, int line, const char *fn)
{
    _hak_log("hakmem: internal assertion failed: %s (%s:%d, %s)", expr, file, line, fn);
    abort();
}

_Noreturn void _hak_misuse(const char *fn, const void *p, int cls, const char *why)
{
    if (cls >= 0)
        _hak_log("hakmem: %s(%p): %s (class %d, %zu-byte blocks)", fn, p, why, cls,
                 hak_class_size((unsigned)cls));
    else
        _hak_log("hakmem: %s(%p): %s", fn, p, why);
    if (_hak_opt.trace)
        hak_trace_dump();
    abort();
}

void _hak_trace(struct hak_thread *t, int ev, unsigned cls, const void *p)
{
    if (!_hak_opt.trace || t->state != HAK_THREAD_ACTIVE)
        return;
    struct hak_trace_entry *e = &t->trace[t->trace_pos++ % HAK_TRACE_RING];
    e->p = p;
    e->ev = (uint8_t)ev;
    e->cls = (uint8_t)cls;
}

static const char *const event_names[] = {
    [HAK_EV_ALLOC] = "alloc",      [HAK_EV_FREE] = "free",   [HAK_EV_REFILL] = "refill",
    [HAK_EV_SPILL] = "spill",      [HAK_EV_REMOTE_PUSH] = "remote-push",
    [HAK_EV_DRAIN] = "drain",      [HAK_EV_ADOPT] = "adopt",
};

void _hak_trace_write(const struct hak_thread *t)
{
    if (t->state != HAK_THREAD_ACTIVE || t->trace_pos == 0) {
        _hak_write_str("hakmem: trace ring: empty (set HAKMEM_TINY_TRACE_RING=1)\n");
        return;
    }
    uint32_t n = t->trace_pos < HAK_TRACE_RING ? t->trace_pos : HAK_TRACE_RING;
    _hak_write_str("hakmem: trace ring, oldest first:\n");
    for (uint32_t i = t->trace_pos - n; i != t->trace_pos; i++) {
        const struct hak_trace_entry *e = &t->trace[i % HAK_TRACE_RING];
        char num[24], hex[19];
        _hak_write_str("  ");
        _hak_write_str(event_names[e->ev]);
        _hak_write_str(" class ");
        _hak_write_str(_hak_utoa(e->cls, num));
        _hak_write_str(" ");
        _hak_write_str(_hak_hex(e->p, hex));
        _hak_write_str("\n");
    }
}

/* The slab's index of block p, after the checks that p is one. */
static size_t block_index(const char *fn, struct hak_slab *s, const void *p)
{
    if (!s->in_use)
        HAK_MISUSE(fn, p, -1, "pointer into a free slab: never allocated, or freed long ago");
    size_t off = (size_t)((const char *)p - _hak_slab_start(s));
    if (off % s->block_size != 0)
        HAK_MISUSE(fn, p, s->cls, "interior pointer: not the start of a block");
    if ((const char *)p >= _hak_slab_end(s))
        HAK_MISUSE(fn, p, s->cls, "pointer past the last block of its slab: never allocated");
    return off / s->block_size;
}

void _hak_debug_alloc(void *p)
{
    struct hak_slab *s = _hak_slab_of(p);
    size_t i = block_index("malloc", s, p);
    uint64_t bit = (uint64_t)1 << (i % 64);
    uint64_t old = atomic_fetch_or(&s->xlive[i / 64], bit);
    if (old & bit)
        HAK_MISUSE("malloc", p, s->cls,
                   "block handed out twice: a double free or a write after free corrupted a "
                   "free list");
    HAK_TRACE(_hak_tls, HAK_EV_ALLOC, s->cls, p);
}

void _hak_debug_free(const char *fn, void *p)
{
    struct hak_slab *s = _hak_slab_of(p);
    size_t i = block_index(fn, s, p);
    /* bump is the owner's: only the owner reads it without a race. */
    if (atomic_load_explicit(&s->xowner, memory_order_relaxed) == _hak_tls->id &&
        (char *)p >= s->bump)
        HAK_MISUSE(fn, p, s->cls, "block never carved from its slab: never allocated");
    uint64_t bit = (uint64_t)1 << (i % 64);
    uint64_t old = atomic_fetch_and(&s->xlive[i / 64], ~bit);
    if (!(old & bit))
        HAK_MISUSE(fn, p, s->cls, "double free (or free of a block never allocated)");
    HAK_TRACE(_hak_tls, HAK_EV_FREE, s->cls, p);
}

void _hak_debug_check_link(const char *where, unsigned cls, const void *next)
{
    if (next == NULL)
        return;
    uintptr_t e = _hak_map_lookup(next);
    if ((e & HAK_CHUNK_KIND_MASK) != HAK_CHUNK_SS)
        HAK_MISUSE(where, next, cls,
                   "free-list link points outside hakmem: a write after free overwrote it");
    struct hak_slab *s = _hak_slab_of(next);
    size_t off = (size_t)((const char *)next - _hak_slab_start(s));
    if (!s->in_use || s->cls != cls || off % s->block_size != 0)
        HAK_MISUSE(where, next, cls,
                   "free-list link is not a free block of its class: a write after free "
                   "overwrote it");
    size_t i = off / s->block_size;
    if (atomic_load_explicit(&s->xlive[i / 64], memory_order_relaxed) & ((uint64_t)1 << (i % 64)))
        HAK_MISUSE(where, next, cls,
                   "free-list link points at a block the program holds: double free or write "
                   "after free");
}

void _hak_debug_slab_check(const char *where, struct hak_slab *s)
{
    uint32_t nfree = 0;
    for (void *b = s->free; b != NULL; b = _hak_link_get(b)) {
        if (++nfree > s->capacity)
            HAK_MISUSE(where, s->free, s->cls, "slab free list longer than the slab: a cycle");
        _hak_debug_check_link(where, s->cls, b);
        if (_hak_slab_of(b) != s)
            HAK_MISUSE(where, b, s->cls, "slab free list leaves its slab");
    }
    uint32_t uncarved = (uint32_t)((size_t)(_hak_slab_end(s) - s->bump) / s->block_size);
    if (s->used + nfree + uncarved != s->capacity)
        HAK_MISUSE(where, s, s->cls,
                   "slab counts disagree with its lists (used + free + uncarved != capacity): "
                   "a double free or a write after free");
}

#endif /* !HAKMEM_BUILD_RELEASE */

HAK_EXPORT void hak_trace_dump(void)
{
#if HAKMEM_BUILD_RELEASE
    _hak_write_str("hakmem: trace ring not compiled in (release build; configure --enable-debug)\n");
#else
    _hak_trace_write(_hak_tls);
#endif
}
