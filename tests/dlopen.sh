#!/bin/sh
# A program that is not linked with hakmem loads it late, with dlopen(),
# and uses its API from threads started before and after (dlopen_prog).
# --disable-initial-exec-tls must make that work wherever dlopen works: the
# library then has no static TLS (no STATIC_TLS flag), so it never needs
# the spare static TLS space glibc reserves for late-loaded libraries,
# which other libraries may have used up ("cannot allocate memory in
# static TLS block"). The default initial-exec build is run too, for the
# record: its few bytes of TLS usually fit in that spare space.
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_BUILDDIR:=.}"
lib="$HAK_BUILDDIR/.libs/libhakmem.so"
prog="$HAK_BUILDDIR/tests/dlopen_prog"
if [ ! -f "$lib" ]; then
    echo "SKIP: $lib is not built (--disable-shared?)"
    exit 77
fi
prefix=$(sed -n 's/^#define HAKMEM_API_PREFIX "\(.*\)"$/\1/p' "$HAK_BUILDDIR/include/hakmem_names.h")
if grep -q '^#define HAK_INITIAL_EXEC_TLS 1' "$HAK_BUILDDIR/config.h"; then ie=1; else ie=0; fi
static_tls=$(readelf -d "$lib" | grep -c 'FLAGS.*STATIC_TLS')
fail=0

if [ "$ie" = 0 ]; then
    if [ "$static_tls" = 0 ]; then
        echo "PASS: --disable-initial-exec-tls: no STATIC_TLS flag"
    else
        echo "FAIL: --disable-initial-exec-tls, yet the library has the STATIC_TLS flag"
        fail=1
    fi
    # No spare static TLS at all beyond glibc's minimum: must not matter.
    for tunables in "" glibc.rtld.optional_static_tls=0; do
        if out=$(GLIBC_TUNABLES=$tunables "$prog" "$lib" "$prefix" 2>&1); then
            echo "PASS: late dlopen${tunables:+ ($tunables)}: $out"
        else
            echo "FAIL: late dlopen${tunables:+ ($tunables)}: $out"
            fail=1
        fi
    done
else
    echo "initial-exec TLS build: STATIC_TLS flag $static_tls"
    if out=$("$prog" "$lib" "$prefix" 2>&1); then
        echo "PASS: late dlopen of the initial-exec build works here too: $out"
    else
        case $out in
        *"static TLS"*) echo "note: the initial-exec build cannot be dlopen'ed late here: $out" ;;
        *) echo "FAIL: late dlopen: $out"; fail=1 ;;
        esac
    fi
fi
exit $fail
