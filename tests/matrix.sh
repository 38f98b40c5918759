#!/bin/sh
# The crash matrix of the original analysis, for the plan this build has:
# HAKMEM_TINY_FAST_CAP {0,64} x HAKMEM_TINY_TLS_LIST {0,1} x threads
# {1,2,4,8}, with the ultra-sll and magazine tiers both off and both on.
# A knob of a tier not in the plan is read and ignored, so every plan runs
# the same 32 cases. Every case must exit 0 (no corruption, no live block).
# HAK_MATRIX_ROUNDS (default 15000) is the work per generation, for slow
# builds (ThreadSanitizer).
: "${HAK_BUILDDIR:=.}"
: "${HAK_MATRIX_ROUNDS:=15000}"
prog="$HAK_BUILDDIR/tests/matrix"
pass=0
fail=0
for fast in 0 64; do
  for tls in 0 1; do
    for other in off on; do
      if [ "$other" = on ]; then ultra=1 mag=64; else ultra=0 mag=0; fi
      for threads in 1 2 4 8; do
        name="FAST_CAP=$fast TLS_LIST=$tls ULTRA=$ultra MAG_CAP=$mag threads=$threads"
        if HAKMEM_TINY_FAST_CAP=$fast HAKMEM_TINY_TLS_LIST=$tls HAKMEM_TINY_ULTRA=$ultra \
           HAKMEM_MAG_CAP=$mag timeout 120 "$prog" "$threads" 6 "$HAK_MATRIX_ROUNDS" >/dev/null; then
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
