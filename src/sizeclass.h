/* hakmem: size classes.
 *
 * 40 classes cover 1..HAK_SMALL_MAX (32 KiB):
 *   classes 0..3    16, 32, 48, 64            (the 16-byte alignment step)
 *   classes 4..39   four per doubling above 64: for k >= 0, j in 0..3,
 *                   size = 64*2^k + (j+1) * 16*2^k
 *                   (80 96 112 128 | 160 192 224 256 | ... | 20K 24K 28K 32K)
 *
 * Invariants (tests/unit/sizeclass.c checks them for every size):
 *   - every size s in 1..HAK_SMALL_MAX has a class with class_size >= s;
 *   - the waste class_size - s is below the 16-byte alignment step, or at
 *     most 20% of class_size (four classes per doubling: the first class
 *     of a doubling is 1.25x the end of the previous one);
 *   - every class size is a multiple of 16, so every block of a slab
 *     (slabs are 64 KiB aligned) is 16-byte aligned; a class size that is
 *     a power of two aligns its blocks to itself.
 *
 * Lookup is one table load up to 1 KiB, shift arithmetic above; no loop.
 */
#ifndef HAK_SIZECLASS_H
#define HAK_SIZECLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "types.h"

/* Sizes up to 1 KiB, the common case, look their class up by 16-byte
 * step: [k] is the class of 16k bytes (every class up to 1 KiB is a
 * multiple of 16, so the class of any size in (16(k-1), 16k] is [k]). */
static const uint8_t hak_class_by_step[65] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11,
    11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
    15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19,
    19,
};

static inline unsigned hak_size_class(size_t size)
{
    if (hak_likely(size <= 1024))
        return hak_class_by_step[(size + 15) >> 4];
    size_t w = size - 1;
    unsigned b = 63u - (unsigned)__builtin_clzl(w);    /* b >= 6 */
    return 4u + ((b - 6u) << 2) + (unsigned)((w >> (b - 2u)) & 3u);
}

static inline size_t hak_class_size(unsigned cls)
{
    if (cls < 4)
        return (size_t)(cls + 1) << 4;
    unsigned k = (cls - 4) >> 2, j = (cls - 4) & 3;
    return ((size_t)64 << k) + (size_t)(j + 1) * ((size_t)16 << k);
}

/* Exact division by a class size without a divide, to tell a block's
 * start from any other address of a slab (Hacker's Delight 10-17): with
 * size = m * 2^shift, m odd, inv = m^-1 mod 2^32, the offset o is a block
 * start exactly when rotr32(o * inv, shift) < capacity; the rotation then
 * is o / size, and for any other o it is larger than any block index. */
struct hak_class_div {
    uint32_t inv;
    uint32_t capacity;
    uint32_t shift;
};
extern struct hak_class_div _hak_class_div[HAK_NCLASSES];
void _hak_class_div_init(void);

/* offset / size for an offset that is a multiple of size; for any other
 * offset, a number above every block index. */
static inline uint32_t hak_block_index(uint32_t inv, uint32_t shift, uint32_t offset)
{
    uint32_t x = offset * inv;
    return (x >> shift) | (x << ((32 - shift) & 31));
}

static inline bool hak_is_block_start(uint32_t inv, uint32_t shift, uint32_t capacity,
                                      uint32_t offset)
{
    return hak_block_index(inv, shift, offset) < capacity;
}

#endif /* HAK_SIZECLASS_H */
