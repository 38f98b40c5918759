#!/bin/sh
# Runs every input of the fuzzer's seed corpus once (no fuzzing): the
# seeds cover every operation, so this is the fuzzer's regression test.
: "${HAK_BUILDDIR:=.}"
: "${srcdir:=.}"
exec "$HAK_BUILDDIR/tests/fuzz/hak_fuzz" "$srcdir"/tests/fuzz/corpus/*
