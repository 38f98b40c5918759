#!/bin/sh
# The documentation names everything a user can reach: each function of
# hakmem.h, each malloc-family symbol the library exports, each HAKMEM_*
# variable the sources read and each configure option appears in hakmem(3)
# and in README.md (hakmem-run's variables in hakmem-run(1)); and the man
# pages render without warnings.
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_SRCDIR:=$(dirname "$0")/..}"
s=$HAK_SRCDIR
fail=0
missing() { # WHAT FILE NAME...: reports each NAME not in FILE
    what=$1 file=$2
    shift 2
    for name in "$@"; do
        if ! grep -qw -e "$name" "$file"; then
            echo "FAIL: $what $name is not in $(basename "$file")"
            fail=1
        fi
    done
}
# In roff, a hyphen is written \-.
roff() { sed 's/-/\\\\-/g'; }

functions=$(sed -n 's/^HAK_API [^(]*\b\(hak_[a-z0-9_]*\)(.*/\1/p' "$s/include/hakmem.h")
overrides=$(sed -n 's/^override //p' "$s/tests/exports.txt")
variables=$(cat "$s"/src/*.c "$s"/src/*/*.c | grep -o '"HAKMEM_[A-Z0-9_]*"' | tr -d '"' | sort -u)
options=$(sed -n 's/.*AS_HELP_STRING(\[\(--[a-z-]*\).*/\1/p' "$s/configure.ac")
runvars=$(grep -o 'HAKMEM_[A-Z0-9_]*' "$s/tools/hakmem-run.in" | sort -u)
if [ -z "$functions" ] || [ -z "$variables" ] || [ -z "$options" ]; then
    echo "FAIL: could not list the functions, variables or options"
    exit 1
fi
for doc in "$s/docs/hakmem.3" "$s/README.md"; do
    # shellcheck disable=SC2086,SC2046  # word splitting of the lists is meant
    {
        missing function "$doc" $functions
        missing symbol "$doc" $overrides
        missing variable "$doc" $variables
        case $doc in
        *.3) missing option "$doc" $(echo "$options" | roff) ;;
        *) missing option "$doc" $options ;;
        esac
    }
done
# shellcheck disable=SC2086
missing variable "$s/docs/hakmem-run.1" $runvars
[ "$fail" = 0 ] && echo "PASS: hakmem(3) and README.md name $(echo "$functions" | wc -l) functions," \
    "$(echo "$variables" | wc -l) variables and $(echo "$options" | wc -l) configure options"

if command -v man >/dev/null 2>&1; then
    for page in "$s/docs/hakmem.3" "$s/docs/hakmem-run.1"; do
        warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
        if [ -n "$warnings" ]; then
            echo "FAIL: $(basename "$page") renders with warnings:"
            echo "$warnings" | sed 's/^/    /'
            fail=1
        else
            echo "PASS: $(basename "$page") renders without warnings"
        fi
    done
fi
exit $fail
