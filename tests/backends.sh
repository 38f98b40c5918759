#!/bin/sh
# shellcheck disable=SC2015  # ok() never fails, so A && ok || ko is if-then-else
# The backends at run time (issue: backends):
#  - HAKMEM_BACKEND picks each compiled backend; one that is not compiled
#    in, or a malformed value, prints one line and os is used;
#    HAKMEM_ARENA_SIZE sizes the arena (k/m/g, rounded up to 2 MiB) and a
#    malformed one prints one line and keeps 4G;
#  - statistics name the backend and its mode, in text and JSON;
#  - a 64 MiB arena is exhausted (ENOMEM) and recovers after frees;
#  - hugepage works whatever the machine offers, and where THP is enabled
#    the heap is on huge pages (smaps);
#  - fork is safe under each backend;
#  - a preloaded python3 on a 256 MiB arena gets MemoryError, then goes on.
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_BUILDDIR:=.}"
b="$HAK_BUILDDIR"
prog="$b/tests/backend_prog"
lib="$(cd "$b" && pwd)/.libs/libhakmem.so"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

compiled=$(sed -n 's/^#define HAK_BACKENDS_STRING "\(.*\)"$/\1/p' "$b/config.h")
has() { case ",$compiled," in *",$1,"*) return 0 ;; esac; return 1; }
# Runs prog show in env $@; sets out (stdout) and err (stderr).
show() {
  env "$@" "$prog" show >"$tmp/out" 2>"$tmp/err"
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }

# ---- selection
for name in os hugepage arena; do
  show HAKMEM_BACKEND=$name
  if has $name; then
    case "$out" in
      "backend $name "*) ok "HAKMEM_BACKEND=$name selects it ($out)" ;;
      *) ko "HAKMEM_BACKEND=$name: $out / $err" ;;
    esac
    # hugepage says once when the machine has no huge pages at all
    if [ -z "$err" ] || { [ $name = hugepage ] && [ "$(lines "$err")" = 1 ]; }; then
      ok "HAKMEM_BACKEND=$name: nothing on stderr but a fallback note"
    else
      ko "HAKMEM_BACKEND=$name printed: $err"
    fi
  else
    [ "$out" = "backend os mmap 0" ] && [ "$(lines "$err")" = 1 ] &&
      printf '%s' "$err" | grep -q "HAKMEM_BACKEND=$name is not compiled in (this build has $compiled); using the default os" &&
      ok "HAKMEM_BACKEND=$name (not compiled in): one line, os" ||
      ko "HAKMEM_BACKEND=$name not compiled in: $out / $err"
  fi
done
for bad in bogus "" ARENA "os,arena"; do
  show HAKMEM_BACKEND="$bad"
  [ "$out" = "backend os mmap 0" ] && [ "$(lines "$err")" = 1 ] &&
    [ "$err" = "hakmem: ignoring malformed HAKMEM_BACKEND (os, hugepage, arena); using the default os" ] &&
    ok "HAKMEM_BACKEND='$bad': one line, os" || ko "HAKMEM_BACKEND='$bad': $out / $err"
done
show HAKMEM_ARENA_SIZE=bogus
[ "$out" = "backend os mmap 0" ] && [ -z "$err" ] && ok "HAKMEM_ARENA_SIZE is ignored without the arena" ||
  ko "HAKMEM_ARENA_SIZE without the arena: $out / $err"

if has arena; then
  for case in 256M:268435456 4g:4294967296 3m:4194304 65536k:67108864; do
    show HAKMEM_BACKEND=arena HAKMEM_ARENA_SIZE="${case%%:*}"
    [ "$out" = "backend arena arena ${case#*:}" ] && [ -z "$err" ] &&
      ok "HAKMEM_ARENA_SIZE=${case%%:*}: ${case#*:} bytes" || ko "HAKMEM_ARENA_SIZE=${case%%:*}: $out / $err"
  done
  for bad in 12q 1k 0 2T "" -1G; do
    show HAKMEM_BACKEND=arena HAKMEM_ARENA_SIZE="$bad"
    [ "$out" = "backend arena arena 4294967296" ] && [ "$(lines "$err")" = 1 ] &&
      printf '%s' "$err" | grep -q '^hakmem: ignoring malformed HAKMEM_ARENA_SIZE .*; using the default 4G$' &&
      ok "HAKMEM_ARENA_SIZE='$bad': one line, 4G" || ko "HAKMEM_ARENA_SIZE='$bad': $out / $err"
  done
fi

# ---- statistics
for name in os hugepage arena; do
  has $name || continue
  HAKMEM_BACKEND=$name "$prog" json >"$tmp/json" 2>&1
  if grep -q "\"backend\":{\"name\":\"$name\",\"mode\":\"[a-z-]*\",\"regions\":" "$tmp/json" &&
     { ! command -v python3 >/dev/null ||
       python3 -c 'import json,sys; json.loads(sys.stdin.read())' <"$tmp/json"; }; then
    ok "JSON statistics name the $name backend and its mode"
  else
    ko "JSON statistics for $name: $(cat "$tmp/json")"
  fi
  HAKMEM_BACKEND=$name "$prog" text >"$tmp/text" 2>&1
  grep -q "^  backend  *$name (" "$tmp/text" && grep -q '^  backend reserved bytes ' "$tmp/text" &&
    ok "text statistics name the $name backend" || ko "text statistics for $name: $(cat "$tmp/text")"
done

# ---- the cases of backend_prog
run() { # NAME ENV... -- ARGS
  name=$1
  shift
  if timeout 300 env "$@" >"$tmp/out" 2>&1; then
    ok "$name: $(tail -n 1 "$tmp/out")"
  else
    ko "$name: $(cat "$tmp/out")"
  fi
}
has arena && run "arena exhausted and recovered" HAKMEM_BACKEND=arena HAKMEM_ARENA_SIZE=64M "$prog" arena
has hugepage && run "hugepage heap" HAKMEM_BACKEND=hugepage "$prog" hugepage
for name in os hugepage arena; do
  has $name && run "fork under $name" HAKMEM_BACKEND=$name HAKMEM_ARENA_SIZE=256M "$prog" fork
done

# ---- a real program on a bounded arena
# Preloading replaces malloc only if the library defines it.
overrides=$(sed -n 's/^#define HAKMEM_OVERRIDES_MALLOC \([01]\)$/\1/p' "$b/include/hakmem_names.h" 2>/dev/null)
if has arena && command -v python3 >/dev/null && [ -f "$lib" ] && [ "${overrides:-1}" = 1 ]; then
  cat >"$tmp/oom.py" <<'EOF'
try:
    hog = bytearray(512 << 20)
    print("no MemoryError")
except MemoryError:
    print("MemoryError")
blocks = []
try:
    while True:
        blocks.append(bytearray(4 << 20))
except MemoryError:
    print("MemoryError after", 4 * len(blocks) > 128 and "more than 128 MiB" or "too little")
del blocks
print("recovered", len(bytearray(200 << 20)) >> 20, "MiB")
EOF
  LD_PRELOAD="$lib" HAKMEM_BACKEND=arena HAKMEM_ARENA_SIZE=256M timeout 120 python3 "$tmp/oom.py" >"$tmp/out" 2>&1
  printf 'MemoryError\nMemoryError after more than 128 MiB\nrecovered 200 MiB\n' >"$tmp/want"
  cmp -s "$tmp/out" "$tmp/want" && ok "python3 on a 256 MiB arena: MemoryError, then recovers" ||
    ko "python3 on a 256 MiB arena: $(cat "$tmp/out")"
fi

echo "backends ($compiled): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
