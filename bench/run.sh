#!/bin/sh
# hakmem benchmarks: run every built benchmark once; `make bench` and
# `make bench-smoke` call this.
#
#   bench/run.sh quick BUILDDIR   on hakmem, short runs, numbers printed
#   bench/run.sh smoke BUILDDIR   on glibc and on hakmem, tiny arguments:
#                                 proves each benchmark works (CI)
#
# A run fails if the benchmark exits non-zero (the C benchmarks exit 2 on
# a corrupted block), takes over 5 minutes, or if ld.so could not preload
# hakmem. Ends with
# "N passed, N failed"; exits non-zero if any run failed.
set -u
mode=${1:-}
builddir=${2:-}
case "$mode" in
    quick|smoke) ;;
    *) echo "usage: bench/run.sh quick|smoke BUILDDIR" >&2; exit 2 ;;
esac
[ -n "$builddir" ] || { echo "bench/run.sh: BUILDDIR missing" >&2; exit 2; }
lib="$builddir/.libs/libhakmem.so"
[ -f "$lib" ] || { echo "bench/run.sh: $lib is not built" >&2; exit 1; }

passed=0
failed=0
# A deadlocked allocator must fail the run, not hang CI.
limit=""
command -v timeout >/dev/null 2>&1 && limit="timeout 300"
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 1' HUP INT TERM

# run NAME PRELOAD PROGRAM ARGS...
run() {
    name=$1
    preload=$2
    shift 2
    # shellcheck disable=SC2086
    LD_PRELOAD="$preload" $limit "$@" >"$out" 2>&1
    rc=$?
    # ld.so only warns when it cannot preload, and the run would then
    # silently measure glibc.
    grep -q 'cannot be preloaded' "$out" && rc=1
    if [ "$mode" = quick ]; then
        echo "== $name: $*"
        cat "$out"
    fi
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        [ "$mode" = smoke ] && echo "PASS: $name"
    else
        failed=$((failed + 1))
        echo "FAIL: $name (exit $rc)"
        [ "$mode" = smoke ] && cat "$out"
    fi
    return 0
}

b="$builddir/bench"
if [ "$mode" = smoke ]; then
    allocs="glibc hakmem"
    larson="0.1 8 1000 500 10 4141"
    mixed="20000 256 42"
    xthread="2 2 2000 16 1024 42"
    rounds="2 20 100 42"
    midsize="2 2000 16 32769 1048576 42"
    firstline="64 65536 100"
    gbench="--benchmark_min_time=0.0001"
    walk=100000
else
    allocs="hakmem"
    larson="1 8 1000 5000 100 4141"
    mixed="10000000 8192 42"
    xthread="2 2 2000000 16 1024 42"
    rounds="2 2000 2500 42"
    midsize="2 500000 64 32769 1048576 42"
    firstline="64 65536 1000000"
    gbench="--benchmark_min_time=0.05"
    walk=20000000
fi

for a in $allocs; do
    if [ "$a" = glibc ]; then pre=""; else pre="$lib"; fi
    for t in 1 2 4 8; do
        # shellcheck disable=SC2086
        run "larson ${t}T ($a)" "$pre" "$b/larson" $larson "$t"
    done
    # shellcheck disable=SC2086
    run "random_mixed ($a)" "$pre" "$b/random_mixed" $mixed
    # shellcheck disable=SC2086
    run "xthread ($a)" "$pre" "$b/xthread" $xthread
    # shellcheck disable=SC2086
    run "rounds ($a)" "$pre" "$b/rounds" $rounds
    # shellcheck disable=SC2086
    run "midsize ($a)" "$pre" "$b/midsize" $midsize
    # shellcheck disable=SC2086
    run "firstline ($a)" "$pre" "$b/firstline" $firstline
    # White-box (links hakmem's internals): nothing to preload.
    if [ "$a" = hakmem ] && [ -x "$b/tier_walk" ]; then
        run "tier_walk" "" "$b/tier_walk" "$walk"
    fi
    if [ -x "$b/gbench/micro" ]; then
        run "gbench ($a)" "$pre" "$b/gbench/micro" "$gbench"
    elif [ "$a" = hakmem ]; then
        echo "bench/run.sh: bench/gbench/micro not built (configure found no libbenchmark)"
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
