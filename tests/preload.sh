#!/bin/sh
# hakmem tests: real programs run under LD_PRELOAD=libhakmem.so must
# behave byte for byte as they do on the C library's malloc.
#
# Each case writes its input and a run.sh into a directory, then runs a
# copy of it plainly and another with hakmem preloaded (every process
# run.sh starts inherits LD_PRELOAD), and compares stdout, stderr and exit
# status. The inputs are generated deterministically, so any difference is
# hakmem's doing. A case whose program is missing is skipped.
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi

# Real programs, compared with their own output on glibc: not a memcheck
# test (tests/valgrind/memcheck.sh is), and far too slow under it.
if [ -n "${HAK_MEMCHECK:-}" ]; then
    echo "SKIP: not run under make check-valgrind"
    exit 77
fi

lib=${HAK_BUILDDIR:?HAK_BUILDDIR is not set}/.libs/libhakmem.so
if [ ! -f "$lib" ]; then
    echo "SKIP: $lib is not built"
    exit 77
fi
if grep -q '^#define HAKMEM_OVERRIDES_MALLOC 0' "$HAK_BUILDDIR/include/hakmem_names.h"; then
    echo "SKIP: --with-malloc-prefix: preloading the library replaces nothing"
    exit 77
fi
if grep -q '^#define HAK_OVERRIDE 0' "$HAK_BUILDDIR/config.h"; then
    echo "SKIP: built with --disable-override: the library has no malloc to preload"
    exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# ld.so only warns when it cannot preload a library, and every case would
# then pass without testing anything.
if ! env LD_PRELOAD="$lib" cat /proc/self/maps | grep -q 'libhakmem\.so'; then
    echo "FAIL: $lib is not loaded by LD_PRELOAD"
    exit 1
fi

ran=0
failed=0
skipped=0

# A deadlock must fail the case, not hang make check.
run_limited() {
    if command -v timeout >/dev/null 2>&1; then
        timeout 120 "$@"
    else
        "$@"
    fi
}

# Prints how the two runs differ, from the files in directory $1.
explain() {
    for stream in status out err; do
        if ! cmp -s "$1/plain.$stream" "$1/preload.$stream"; then
            echo "  $stream differs (plain vs preload):"
            diff "$1/plain.$stream" "$1/preload.$stream" | head -n 10 | sed 's/^/    /'
        fi
    done
}

# begin_case NAME PROGRAM...: unless a PROGRAM is missing (then the case
# is skipped and this returns 1), enters an empty directory for the case's
# setup function to fill with its input and run.sh.
begin_case() {
    name=$1
    shift
    for prog in "$@"; do
        if ! command -v "$prog" >/dev/null 2>&1; then
            echo "SKIP: $name ($prog not found)"
            skipped=$((skipped + 1))
            return 1
        fi
    done
    ran=$((ran + 1))
    base=$tmp/$name
    mkdir -p "$base/input" || exit 1
    cd "$base/input" || exit 1
}

# end_case SETUP_STATUS: runs a copy of the input plainly and one with
# hakmem preloaded, and compares them.
end_case() {
    cd "$tmp" || exit 1
    if [ "$1" != 0 ]; then
        echo "FAIL: $name (setup failed)"
        failed=$((failed + 1))
        return
    fi
    for mode in plain preload; do
        cp -R "$base/input" "$base/$mode" || exit 1
        if [ "$mode" = preload ]; then
            (cd "$base/$mode" && run_limited env LD_PRELOAD="$lib" sh run.sh) \
                >"$base/$mode.out" 2>"$base/$mode.err"
        else
            (cd "$base/$mode" && run_limited sh run.sh) >"$base/$mode.out" 2>"$base/$mode.err"
        fi
        echo $? >"$base/$mode.status"
    done
    plain_status=$(cat "$base/plain.status")
    if [ "$plain_status" != 0 ]; then
        echo "FAIL: $name (fails without hakmem too, status $plain_status)"
        sed 's/^/    /' "$base/plain.err" | head -n 10
        failed=$((failed + 1))
    elif cmp -s "$base/plain.out" "$base/preload.out" &&
        cmp -s "$base/plain.err" "$base/preload.err" &&
        cmp -s "$base/plain.status" "$base/preload.status"; then
        echo "PASS: $name"
    else
        echo "FAIL: $name"
        explain "$base"
        failed=$((failed + 1))
    fi
    rm -rf "$base"
}

setup_python() {
    cat >prog.py <<'EOF'
import hashlib

xs = [str(i * 7919 % 1000003) + "abcdefghijklmnopq"[: i % 17] for i in range(1000000)]
xs.sort()
d = {s: i for i, s in enumerate(xs) if i % 3}
print(len(xs), len(d), hashlib.sha256("\n".join(xs).encode()).hexdigest())
EOF
    echo 'PYTHONHASHSEED=0 exec python3 prog.py' >run.sh
}

# ~20 MB of lines from a linear congruential generator (exact in awk's
# doubles: 69069 * 2^32 < 2^53).
setup_sort() {
    awk 'BEGIN {
        x = 1
        for (i = 0; i < 850000; i++) {
            x = (x * 69069 + 1) % 4294967296
            word = substr("qwertyuiopasdfghjklzxcvbnm", x % 26 + 1, x % 7 + 1)
            printf "%010d %s %d\n", x, word, i
        }
    }' >in.txt
    cat >run.sh <<'EOF'
export LC_ALL=C
sort -o sorted in.txt || exit
sha256sum <sorted
sort -t ' ' -k2,2 -k3,3n -o by_word in.txt || exit
sha256sum <by_word
EOF
}

# 2,000 lines of C: 180 functions with loops, switches and calls, and a
# second file with an error, so gcc's diagnostics path runs too.
setup_gcc() {
    awk 'BEGIN {
        print "struct acc { long a, b; double c; };"
        print "int f0(const int *v, unsigned long n, struct acc *o)"
        print "{\n    (void)v;\n    (void)n;\n    (void)o;\n    return 0;\n}"
        for (i = 1; i < 180; i++) {
            printf "int f%d(const int *v, unsigned long n, struct acc *o)\n{\n", i
            printf "    int s = %d;\n", i
            printf "    for (unsigned long j = 0; j < n; j++)\n"
            printf "        s = s * %d + (v[j] ^ %d);\n", i % 7 + 3, i * 37
            printf "    switch (s & 3) {\n"
            printf "    case 0: o->a += s; break;\n"
            printf "    case 1: o->b -= s; break;\n"
            printf "    default: o->c *= %d.5; break;\n    }\n", i
            printf "    return s + f%d(v, n / 2, o);\n}\n", i - 1
        }
    }' >gen.c
    printf 'int main(void)\n{\n    return undeclared_name + 1;\n}\n' >bad.c
    cat >run.sh <<'EOF'
gcc -O2 -c gen.c -o gen.o || exit
objdump -d gen.o | sha256sum
sha256sum <gen.o
gcc -O2 -c bad.c -o bad.o
echo "bad.c: gcc status $?"
EOF
}

# 500 files in 20 directories, two commits with fixed identities and dates,
# then a single-threaded repack (threaded delta search is not
# deterministic).
setup_git() {
    awk 'BEGIN {
        for (d = 0; d < 20; d++)
            print "tree/d" d
    }' | xargs mkdir -p || return
    awk 'BEGIN {
        for (i = 0; i < 500; i++) {
            f = "tree/d" i % 20 "/f" i ".txt"
            for (j = 0; j <= i % 40; j++)
                printf "file %d line %d %s\n", i, j, substr("0123456789abcdef", j % 16 + 1) >f
            close(f)
        }
    }'
    cat >run.sh <<'EOF'
export HOME="$PWD" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Author GIT_AUTHOR_EMAIL=author@example.org
export GIT_COMMITTER_NAME=Committer GIT_COMMITTER_EMAIL=committer@example.org
export GIT_AUTHOR_DATE='2020-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2020-01-02T00:00:00+0000'
cd tree || exit
git -c init.defaultBranch=main init -q . || exit
git add . || exit
git commit -q -m 'first' || exit
git rev-parse HEAD
git count-objects
for f in d1/*.txt d7/*.txt; do echo changed >>"$f"; done
git commit -q -a -m 'second' || exit
git rev-parse HEAD
git log --stat --format='%H %an %cd %s' | sha256sum
git -c pack.threads=1 repack -a -d -q || exit
git count-objects -v | grep -v '^size'
git fsck --no-progress --strict || exit
EOF
}

setup_perl() {
    cat >prog.pl <<'EOF'
use strict;
use warnings;

my %h;
for my $i (1 .. 1000000) {
    $h{"key$i"} = "v" x ($i % 50);
    delete $h{"key" . ($i - 1000)} if $i > 1000;
}
my $sum = 0;
for my $k (sort keys %h) {
    $sum = ($sum * 31 + length($k) + length($h{$k})) % 1000000007;
}
print scalar(keys %h), " $sum\n";
EOF
    echo 'exec perl prog.pl' >run.sh
}

setup_bash() {
    cat >prog.bash <<'EOF'
declare -a arr
declare -A seen
s=
for ((i = 0; i < 100000; i++)); do
    arr[i]=$((i * 7919 % 1009))
    s+="${arr[i]},"
    if ((i % 1000 == 999)); then
        seen[${s:0:12}]=$i
        s=${s: -200}
    fi
    if ((i % 3 == 0)); then
        unset 'arr[i/2]'
    fi
done
echo "${#arr[@]} ${#seen[@]} ${#s}"
printf '%s\n' "${arr[@]}" | cksum
EOF
    echo 'exec bash prog.bash' >run.sh
}

if begin_case python python3; then
    setup_python
    end_case $?
fi
if begin_case sort sort awk sha256sum; then
    setup_sort
    end_case $?
fi
if begin_case gcc gcc objdump awk sha256sum; then
    setup_gcc
    end_case $?
fi
if begin_case git git awk xargs sha256sum; then
    setup_git
    end_case $?
fi
if begin_case perl perl; then
    setup_perl
    end_case $?
fi
if begin_case bash bash cksum; then
    setup_bash
    end_case $?
fi

echo "preload: $ran run, $failed failed, $skipped skipped"
if [ "$failed" -gt 0 ]; then
    exit 1
fi
if [ "$ran" -eq 0 ]; then
    exit 77
fi
exit 0
