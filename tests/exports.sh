#!/bin/sh
# The library exports exactly its ABI: the dynamic symbols of libhakmem.so
# are the list in tests/exports.txt, renamed by --with-malloc-prefix, with
# no malloc, free, ... when the build has a prefix, and nothing else (an
# internal function made visible by mistake fails here).
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_BUILDDIR:=.}"
: "${HAK_SRCDIR:=$(dirname "$0")/..}"
lib="$HAK_BUILDDIR/.libs/libhakmem.so"
names="$HAK_BUILDDIR/include/hakmem_names.h"
if [ ! -f "$lib" ]; then
    echo "SKIP: $lib is not built (--disable-shared?)"
    exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

prefix=$(sed -n 's/^#define HAKMEM_API_PREFIX "\(.*\)"$/\1/p' "$names")
overrides=$(sed -n 's/^#define HAKMEM_OVERRIDES_MALLOC \([01]\)$/\1/p' "$names")
if [ -z "$prefix" ] || [ -z "$overrides" ]; then
    echo "FAIL: cannot read the prefix from $names"
    exit 1
fi

sed -n "s/^api hak_/$prefix/p" "$HAK_SRCDIR/tests/exports.txt" >"$tmp/want"
[ "$overrides" = 1 ] && sed -n 's/^override //p' "$HAK_SRCDIR/tests/exports.txt" >>"$tmp/want"
sort -o "$tmp/want" "$tmp/want"
# Defined, global symbols only: what a program or dlsym() can bind to.
nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Z]$/ { print $3 }' | sort >"$tmp/have"

fail=0
if cmp -s "$tmp/want" "$tmp/have"; then
    echo "PASS: libhakmem.so exports exactly the $(wc -l <"$tmp/want") symbols of its ABI (prefix $prefix)"
else
    echo "FAIL: exported symbols differ from tests/exports.txt (< expected, > exported):"
    diff "$tmp/want" "$tmp/have" | grep '^[<>]' | sed 's/^/    /'
    fail=1
fi
if [ "$overrides" = 0 ]; then
    if grep -Eqx 'malloc|free|calloc|realloc' "$tmp/have"; then
        echo "FAIL: a --with-malloc-prefix build exports malloc & co."
        fail=1
    else
        echo "PASS: no malloc, free, calloc or realloc exported (--with-malloc-prefix=$prefix)"
    fi
fi
# The Debian symbols file tracks the same ABI (debian/ is not in the
# release tarball, so a build from one skips this).
symbols=$HAK_SRCDIR/debian/libhakmem0.symbols
if [ -f "$symbols" ] && [ "$prefix" = hak_ ] && [ "$overrides" = 1 ]; then
    sed -n 's/^ \([^@]*\)@Base .*/\1/p' "$symbols" | sort >"$tmp/symbols"
    if cmp -s "$tmp/want" "$tmp/symbols"; then
        echo "PASS: debian/libhakmem0.symbols lists the same symbols"
    else
        echo "FAIL: debian/libhakmem0.symbols differs (< tests/exports.txt, > symbols file):"
        diff "$tmp/want" "$tmp/symbols" | grep '^[<>]' | sed 's/^/    /'
        fail=1
    fi
fi
exit $fail
