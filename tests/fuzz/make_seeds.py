#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/hak_fuzz into tests/fuzz/corpus/.

Each seed is a short program in the fuzzer's input language (see the
decoder in hak_fuzz.c: an opcode byte modulo 11, then its arguments), so
that fuzzing starts from inputs that already reach every operation and
every size range. Run it again after changing the input language.
"""
import os
import random
import sys

MALLOC, CALLOC, ALIGNED, REALLOC, FREE, RFREE, RMALLOC, HEXIT, TRIM, CHECK = 0, 2, 3, 4, 5, 6, 7, 8, 9, 10


def size(kind, v):
    """kind: 0 tiny, 1 <=1K, 2 any small, 3 near 32K, 4 large <=1M,
    5 <=8M, 6 power of two +- d (v: exponent | 0x100 for +)."""
    return [kind, v & 0xFF, (v >> 8) & 0xFF]


def malloc(slot, kind, v):
    return [MALLOC, slot] + size(kind, v)


def calloc(slot, kind, v, split=1):
    return [CALLOC, slot] + size(kind, v) + [split]


def aligned(slot, how, kind, v):
    return [ALIGNED, slot, how] + size(kind, v)


def realloc(slot, kind, v):
    return [REALLOC, slot] + size(kind, v)


def free(slot):
    return [FREE, slot]


def rfree(slot):
    return [RFREE, slot]


def rmalloc(slot, kind, v):
    return [RMALLOC, slot] + size(kind, v)


def seeds():
    s = {}
    # Every small class, then every other one freed, then all.
    p = []
    for i in range(40):
        p += malloc(i, 2, (i * 977) % 32769)
    for i in range(0, 40, 2):
        p += free(i)
    p += [CHECK]
    for i in range(40):
        p += free(i)
    s["small-classes"] = p
    # Around the small/large boundary and powers of two.
    p = []
    for i in range(16):
        p += malloc(i, 3, i * 8)
        p += malloc(16 + i, 6, (11 + i % 13) | (0x100 if i & 1 else 0))
    p += [CHECK, TRIM]
    s["boundaries"] = p
    # Large blocks and reallocs across the boundary, both ways, and to 0.
    p = []
    for i in range(8):
        p += malloc(i, 1, 500 + i)
        p += realloc(i, 4, 1000 + 3000 * i)
        p += realloc(i, 5, 20000 + 1000 * i)
        p += realloc(i, 2, 100 + i)
        p += realloc(i, 0, 0) if i % 2 else realloc(i, 1, 7)
    p += [CHECK]
    s["realloc-chains"] = p
    # Every alignment with both functions, and bad alignments.
    p = []
    for a in range(23):
        p += aligned(a, a, 1, 100 + a)
        p += aligned(32 + a, a | 0x40, 2, 3000 * a)
        p += aligned(64 + a, a | 0x80, 1, 64)
        p += aligned(96 + a, a | 0xA0, 1, 64)
    p += [CHECK]
    s["alignments"] = p
    # calloc (both factorings), on recycled blocks, and trims.
    p = []
    for i in range(20):
        p += malloc(i, 2, 200 * i + 1)
    for i in range(20):
        p += free(i)
    for i in range(20):
        p += calloc(i, 2, 200 * i + 1, i & 1)
    p += calloc(30, 4, 40000, 1) + calloc(31, 5, 30000, 0) + [TRIM, CHECK]
    s["calloc"] = p
    # Remote frees, remote mallocs freed here, helper exits in between.
    p = []
    for r in range(4):
        for i in range(24):
            p += rmalloc(i, i % 3, 50 * i + r)
        p += [HEXIT, 0]
        for i in range(24):
            p += free(i) if i % 2 else rfree(i)
        for i in range(24, 48):
            p += malloc(i, 1, 16 * i)
        for i in range(24, 48):
            p += rfree(i)
    p += [TRIM, CHECK]
    s["remote"] = p
    # Random programs.
    rnd = random.Random(7)
    for n in range(6):
        p = []
        for _ in range(rnd.randrange(60, 200)):
            p += [rnd.randrange(256)] + [rnd.randrange(256) for _ in range(6)]
        s["random-%d" % n] = p
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, prog in seeds().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(b & 0xFF for b in prog))
    return 0


if __name__ == "__main__":
    sys.exit(main())
