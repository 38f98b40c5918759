/* hakmem: compiler helpers shared by every module. */
#ifndef HAK_COMPILER_H
#define HAK_COMPILER_H

#define hak_likely(x) __builtin_expect(!!(x), 1)
#define hak_unlikely(x) __builtin_expect(!!(x), 0)
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_COLD __attribute__((cold, noinline))
#define HAK_INLINE static inline __attribute__((always_inline))
#define HAK_EXPORT __attribute__((visibility("default")))
/* Keeps x, as computed, in a register for its later uses: GCC otherwise
 * rebuilds an address it can derive again from its inputs at each use
 * (the slab descriptor on free: five instructions more). */
#define HAK_KEEP(x) __asm__("" : "+r"(x))

/* Plain fields with one writer at a time (the thread that owns them, or
 * whoever holds their lock) that other threads also read without that
 * guarantee: the counts and counters hak_stats_get sums, and the peeks
 * that decide whether a lock is worth taking. The writer stores with
 * HAK_RELAXED_SET or HAK_RELAXED_ADD and racing readers load with
 * HAK_RELAXED_GET: relaxed atomic accesses, so neither side is a data
 * race, yet each compiles to the plain move of an ordinary access. The
 * writer's own reads need nothing, which is why these fields are not
 * _Atomic (an accidental `x++` on an _Atomic field would be a locked
 * read-modify-write on the hot path). */
#define HAK_RELAXED_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define HAK_RELAXED_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* x += n by x's only writer: a load and a store, never a locked add. */
#define HAK_RELAXED_ADD(x, n) HAK_RELAXED_SET((x), (x) + (n))

#endif /* HAK_COMPILER_H */
