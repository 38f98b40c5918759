#!/bin/sh
# The crash matrix of the original analysis, for the plan this build has:
# HAKMEM_TINY_FAST_CAP {0,64} x HAKMEM_TINY_TLS_LIST {0,1} x threads
# {1,2,4,8}, with the ultra-sll and magazine tiers both off and both on.
# A knob of a tier not in the plan is read and ignored, so every plan runs
# the same 32 cases. Every case must exit 0 (no corruption, no live block).
# HAK_MATRIX_ROUNDS (default 15000) is the work per generation, for slow
# builds (ThreadSanitizer).
#
# Under make check-valgrind, HAK_MEMCHECK is its memcheck command line:
# every case runs under it (the knobs set here switch the cache tiers on,
# which valgrind otherwise leaves off), with threads {1,4} only and the
# rounds scaled by HAK_TEST_SCALE.
: "${HAK_BUILDDIR:=.}"
: "${HAK_MATRIX_ROUNDS:=15000}"
prog="$HAK_BUILDDIR/tests/matrix"
threads_list="1 2 4 8"
[ -n "${HAK_MEMCHECK:-}" ] && threads_list="1 4"
rounds=$(awk -v n="$HAK_MATRIX_ROUNDS" -v s="${HAK_TEST_SCALE:-1}" 'BEGIN { r = int(n * s); print (r > 0 ? r : 1) }')
pass=0
fail=0
for fast in 0 64; do
  for tls in 0 1; do
    for other in off on; do
      if [ "$other" = on ]; then ultra=1 mag=64; else ultra=0 mag=0; fi
      for threads in $threads_list; do
        name="FAST_CAP=$fast TLS_LIST=$tls ULTRA=$ultra MAG_CAP=$mag threads=$threads"
        # shellcheck disable=SC2086  # HAK_MEMCHECK is a command line
        if HAKMEM_TINY_FAST_CAP=$fast HAKMEM_TINY_TLS_LIST=$tls HAKMEM_TINY_ULTRA=$ultra \
           HAKMEM_MAG_CAP=$mag timeout 300 ${HAK_MEMCHECK:-} "$prog" "$threads" 6 "$rounds" \
           >/dev/null; then
          echo "PASS: $name"
          pass=$((pass + 1))
        else
          echo "FAIL: $name (exit $?)"
          fail=$((fail + 1))
        fi
      done
    done
  done
done
echo "matrix: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
