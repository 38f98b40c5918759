/* hakmem: compiler helpers shared by every module. */
#ifndef HAK_COMPILER_H
#define HAK_COMPILER_H

#define hak_likely(x) __builtin_expect(!!(x), 1)
#define hak_unlikely(x) __builtin_expect(!!(x), 0)
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_COLD __attribute__((cold, noinline))
#define HAK_INLINE static inline __attribute__((always_inline))
#define HAK_EXPORT __attribute__((visibility("default")))

#endif /* HAK_COMPILER_H */
