#!/bin/sh
# A program linked -static with libhakmem.a (tests/static_prog.c) runs on
# hakmem, and the link has no duplicate symbols with glibc's libc.a: make
# check builds the program only when configure could link -static (the C
# library's static archive is there) and libhakmem.a is built.
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_BUILDDIR:=.}"
prog=$HAK_BUILDDIR/tests/static_prog
if [ ! -x "$prog" ]; then
    echo "SKIP: no static C library or --disable-static: tests/static_prog is not built"
    exit 77
fi
if readelf -d "$prog" | grep -q NEEDED; then
    echo "FAIL: $prog is dynamically linked"
    exit 1
fi
plan=$(sed -n 's/^#define HAK_PLAN_STRING "\(.*\)"$/\1/p' "$HAK_BUILDDIR/src/hak_plan.h")
# Without the purger thread: its start (pthread_create, which in a static
# binary allocates its thread's TLS vector through hakmem) would count as
# blocks the program left live, whenever a free happens to start it.
HAKMEM_DECAY_MS=0 "$prog" "$plan"
