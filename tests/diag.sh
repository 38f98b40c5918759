#!/bin/sh
# shellcheck disable=SC2015  # ok() never fails, so A && ok || ko is if-then-else
# The release/debug split and the crash handler (issue: diagnostics):
#  - a release library imports no printf-family function and carries no
#    debug message; a debug library has both;
#  - a crash prints hakmem's report and still dies by the signal; with
#    HAKMEM_CRASH_HANDLER=0 there is no report; the program's own handler
#    runs, whether installed after hakmem or before it (chained);
#  - debug builds abort on each heap misuse with a message naming it;
#  - the JSON statistics parse and count the blocks allocated;
#  - hak_heap_check() finds nothing wrong in a sound heap.
# Crash reports, signals and debug aborts: not memcheck's to check, and
# memcheck reports the crashes these cases provoke on purpose.
if [ -n "${HAK_MEMCHECK:-}" ]; then
  echo "SKIP: not run under make check-valgrind"
  exit 77
fi

: "${HAK_BUILDDIR:=.}"
b="$HAK_BUILDDIR"
lib="$b/.libs/libhakmem.so"
prog="$b/tests/diag_prog"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

if grep -q '^#define HAKMEM_BUILD_RELEASE 1' "$b/config.h"; then debug=0; else debug=1; fi

printf_syms=$(nm -D --undefined-only "$lib" | grep -c 'printf')
msg_strings=$(strings "$lib" | grep -c 'double free')
if [ "$debug" = 0 ]; then
  [ "$printf_syms" -eq 0 ] && ok "release imports no printf-family function" ||
    ko "release imports printf-family functions: $(nm -D --undefined-only "$lib" | grep printf)"
  [ "$msg_strings" -eq 0 ] && ok "release carries no debug message" || ko "release has debug strings"
else
  [ "$printf_syms" -gt 0 ] && ok "debug library uses the printf family" || ko "debug: no printf"
  [ "$msg_strings" -gt 0 ] && ok "debug library carries the misuse messages" ||
    ko "debug: no misuse messages"
fi

# crash: the report, then death by SIGSEGV (128 + 11). In a sanitizer
# build the sanitizer's own SIGSEGV handler would run after hakmem's
# re-raise, report, and exit 1: these cases are about hakmem's handler.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
export ASAN_OPTIONS
"$prog" segv 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 139 ] && grep -q 'hakmem: caught SIGSEGV at address 0x0000000000000010' "$tmp/err" &&
   grep -q 'hakmem: version .*, plan ' "$tmp/err"; then
  ok "crash report, then death by SIGSEGV"
else
  ko "crash report (exit $rc): $(cat "$tmp/err")"
fi
HAKMEM_CRASH_HANDLER=0 "$prog" segv 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 139 ] && ! grep -q 'hakmem:' "$tmp/err"; then
  ok "HAKMEM_CRASH_HANDLER=0: no report"
else
  ko "HAKMEM_CRASH_HANDLER=0 (exit $rc): $(cat "$tmp/err")"
fi
"$prog" segv-own 2>"$tmp/err"; rc=$?
[ "$rc" -eq 3 ] && grep -q 'own handler ran' "$tmp/err" && ok "program's handler installed later runs" ||
  ko "program's own handler (exit $rc): $(cat "$tmp/err")"
"$b/tests/chain_prog" "$lib" 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 3 ] && grep -q 'hakmem: caught SIGSEGV' "$tmp/err" && grep -q 'own handler ran' "$tmp/err"; then
  ok "handler installed before hakmem is chained to"
else
  ko "chained handler (exit $rc): $(cat "$tmp/err")"
fi

# heap misuse in a debug build: abort (128 + 6) with a message naming it
misuse() { # CASE EXPECTED-TEXT [ENV...]
  c=$1 want=$2
  shift 2
  env "$@" "$prog" "$c" 2>"$tmp/err"; rc=$?
  if [ "$rc" -eq 134 ] && grep -q "hakmem: free(0x[0-9a-f]*): .*$want" "$tmp/err" ||
     { [ "$c" = overwritten ] && [ "$rc" -eq 134 ] && grep -q "hakmem: malloc(0x[0-9a-f]*): .*$want" "$tmp/err"; }; then
    ok "debug: $c aborts naming '$want'"
  else
    ko "debug: $c (exit $rc): $(cat "$tmp/err")"
  fi
}
# bad pointers in a release build: reported on stderr, ignored, no harm
if [ "$debug" = 0 ]; then
  for c in stack interior-all metadata; do
    # ASan's detect_stack_use_after_return moves locals to a fake stack in
    # its own mappings: not a thread stack hakmem could recognise, so the
    # stack case would reach ASan's free. Keep locals on the real stack.
    ASAN_OPTIONS="$ASAN_OPTIONS:detect_stack_use_after_return=0" "$prog" "$c" 2>"$tmp/err"; rc=$?
    if [ "$rc" -eq 0 ] && grep -q 'hakmem: free(): pointer 0x' "$tmp/err" &&
       grep -q 'hakmem: realloc(): pointer 0x' "$tmp/err"; then
      ok "release: $c reported and ignored"
    else
      ko "release: $c (exit $rc): $(cat "$tmp/err")"
    fi
  done
fi

if [ "$debug" = 1 ]; then
  misuse stack "not allocated by hakmem"
  misuse double-free "double free"
  misuse double-free-cached "double free"
  misuse foreign "never"
  misuse interior "interior pointer"
  misuse overwritten "free-list link" HAKMEM_TINY_FAST_CAP=0 HAKMEM_MAG_CAP=0
fi

# statistics: JSON parses; live blocks = what the program holds
if "$prog" stats 1000 >"$tmp/json" &&
   python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
h = d["hakmem"]
live = h["live_small_blocks"] - d["baseline"]
assert live == 1000, "live blocks %d, want 1000" % live
assert isinstance(h["tiers"], list) and h["plan"].endswith("superslab")
' "$tmp/json"; then
  ok "JSON statistics parse and count live blocks"
else
  ko "JSON statistics: $(cat "$tmp/json")"
fi
HAKMEM_STATS=json "$prog" heap-check >/dev/null 2>"$tmp/err" &&
  python3 -c 'import json,sys; json.loads(open(sys.argv[1]).read())' "$tmp/err" &&
  ok "HAKMEM_STATS=json prints JSON at exit" || ko "HAKMEM_STATS=json: $(cat "$tmp/err")"
HAKMEM_STATS=1 "$prog" heap-check >/dev/null 2>"$tmp/err" && grep -q 'live small blocks' "$tmp/err" &&
  ok "HAKMEM_STATS=1 prints text at exit" || ko "HAKMEM_STATS=1: $(cat "$tmp/err")"
"$prog" heap-check >"$tmp/out" 2>&1 && ok "hak_heap_check on a sound heap" ||
  ko "hak_heap_check: $(cat "$tmp/out")"

echo "diag: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
