#!/bin/sh
# shellcheck disable=SC2015  # ok() never fails, so A && ok || ko is if-then-else
# make install into a DESTDIR installs exactly the files a package ships,
# where configure said (--prefix, --libdir, ...): the library named for its
# -version-info with the soname libhakmem.so.0, the public headers in
# includedir and nowhere else, hakmem.pc, hakmem-run and the man pages.
# Then a program is built against the installed copy with nothing but
# `pkg-config --cflags --libs hakmem` (pkg-config pointed into the DESTDIR
# with PKG_CONFIG_SYSROOT_DIR) and run: it must load that library and, in a
# build that overrides malloc, allocate from it through plain malloc. With
# a static C library, the same program is linked -static through
# `pkg-config --static`.
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_BUILDDIR:?}" "${HAK_CC:?}" "${HAK_MAKE:?}" "${HAK_LT_VERSION:?}"
b=$HAK_BUILDDIR
if [ ! -f "$b/.libs/libhakmem.so" ]; then
    echo "SKIP: no shared library (--disable-shared?)"
    exit 77
fi
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "SKIP: pkg-config not found"
    exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
d=$tmp/dest
fail=0
ok() { echo "PASS: $1"; }
ko() { echo "FAIL: $1"; fail=1; }

overrides=$(sed -n 's/^#define HAKMEM_OVERRIDES_MALLOC \([01]\)$/\1/p' "$b/include/hakmem_names.h")
plan=$(sed -n 's/^#define HAK_PLAN_STRING "\(.*\)"$/\1/p' "$b/src/hak_plan.h")
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$b/config.h")

# A make run from a test is not a sub-make of `make check`: it must not
# inherit check's job server or command-line variables.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$HAK_MAKE" -s -C "$b" install DESTDIR="$d" \
        >"$tmp/install.log" 2>&1; then
    ko "make install DESTDIR=..."
    cat "$tmp/install.log"
    exit 1
fi

# The library file name follows from current:revision:age (libtool: the
# soname number is current - age).
IFS=: read -r cur rev age <<EOT
$HAK_LT_VERSION
EOT
major=$((cur - age))
real=libhakmem.so.$major.$age.$rev
{
    echo "$HAK_INCLUDEDIR/hakmem.h"
    echo "$HAK_INCLUDEDIR/hakmem_names.h"
    echo "$HAK_LIBDIR/$real"
    echo "$HAK_LIBDIR/libhakmem.so.$major"
    echo "$HAK_LIBDIR/libhakmem.so"
    echo "$HAK_LIBDIR/libhakmem.la"
    [ -f "$b/.libs/libhakmem.a" ] && echo "$HAK_LIBDIR/libhakmem.a"
    echo "$HAK_PKGCONFIGDIR/hakmem.pc"
    echo "$HAK_MANDIR/man3/hakmem.3"
    if [ "$overrides" = 1 ]; then
        echo "$HAK_BINDIR/hakmem-run"
        echo "$HAK_MANDIR/man1/hakmem-run.1"
    fi
} | sort >"$tmp/want"
(cd "$d" && find . ! -type d | sed 's|^\.||' | sort) >"$tmp/have"
if cmp -s "$tmp/want" "$tmp/have"; then
    ok "installed files are exactly the expected $(wc -l <"$tmp/want"), under libdir $HAK_LIBDIR"
else
    ko "installed files (< expected, > installed):"
    diff "$tmp/want" "$tmp/have" | grep '^[<>]' | sed 's/^/    /'
fi
[ "$(readlink "$d$HAK_LIBDIR/libhakmem.so.$major")" = "$real" ] &&
    [ "$(readlink "$d$HAK_LIBDIR/libhakmem.so")" = "$real" ] &&
    ok "libhakmem.so and libhakmem.so.$major link to $real" || ko "library symlinks"
soname=$(readelf -d "$d$HAK_LIBDIR/$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libhakmem.so.$major" ] && ok "soname $soname" || ko "soname '$soname'"

cat >"$tmp/prog.c" <<'EOT'
#include <hakmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct hak_stats before, after;
    if (argc != 4 || hak_stats_get(&before, sizeof before) != 0)
        return 2;
    void *keep[100];
    for (int i = 0; i < 100; i++)
        keep[i] = malloc(64);
    hak_stats_get(&after, sizeof after);
    int from_hakmem = after.live_small_blocks >= before.live_small_blocks + 100;
    for (int i = 0; i < 100; i++)
        free(keep[i]);
    void *p = hak_malloc(1000);
    int ok = p != NULL && hak_usable_size(p) >= 1000 && strcmp(hak_version(), argv[1]) == 0 &&
             strcmp(hak_tier_plan(), argv[2]) == 0 && from_hakmem == atoi(argv[3]);
    hak_free(p);
    printf("version %s, plan %s, malloc from hakmem: %d\n", hak_version(), hak_tier_plan(),
           from_hakmem);
    return !ok;
}
EOT
PKG_CONFIG_SYSROOT_DIR=$d
PKG_CONFIG_LIBDIR=$d$HAK_PKGCONFIGDIR
PKG_CONFIG_PATH=
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
flags="$(pkg-config --cflags hakmem) -Wall -Werror"
libs=$(pkg-config --libs hakmem)
pc_version=$(pkg-config --modversion hakmem)
[ "$pc_version" = "$version" ] && ok "pkg-config --modversion hakmem: $pc_version" ||
    ko "pkg-config --modversion hakmem: '$pc_version', want $version"
# shellcheck disable=SC2086
if $HAK_CC $flags -o "$tmp/prog" "$tmp/prog.c" $libs 2>"$tmp/cc.log"; then
    ok "built with pkg-config: $flags $libs"
    loaded=$(LD_LIBRARY_PATH=$d$HAK_LIBDIR ldd "$tmp/prog" | sed -n 's/.*libhakmem.* => \([^ ]*\).*/\1/p')
    case $loaded in
    "$d"/*) ok "the program loads the installed copy" ;;
    *) ko "the program loads '$loaded', not the copy in $d" ;;
    esac
    if out=$(LD_LIBRARY_PATH=$d$HAK_LIBDIR "$tmp/prog" "$version" "$plan" "$overrides"); then
        ok "runs: $out"
    else
        ko "runs: $out"
    fi
else
    ko "build with pkg-config"
    cat "$tmp/cc.log"
fi

if [ -f "$d$HAK_LIBDIR/libhakmem.a" ] &&
    echo 'int main(void) { return 0; }' >"$tmp/s.c" && $HAK_CC -static -o "$tmp/s" "$tmp/s.c" 2>/dev/null; then
    slibs=$(pkg-config --static --libs hakmem)
    # -l finds libhakmem.so first; -static makes it take libhakmem.a.
    # shellcheck disable=SC2086
    if $HAK_CC $flags -static -o "$tmp/sprog" "$tmp/prog.c" $slibs 2>"$tmp/cc.log" &&
        out=$("$tmp/sprog" "$version" "$plan" "$overrides"); then
        ok "linked -static with pkg-config --static ($slibs): $out"
    else
        ko "static link with pkg-config --static: $(cat "$tmp/cc.log") $out"
    fi
fi

if [ "$overrides" = 1 ]; then
    run=$d$HAK_BINDIR/hakmem-run
    grep -q "$HAK_LIBDIR/libhakmem.so.$major" "$run" && ok "hakmem-run preloads $HAK_LIBDIR/libhakmem.so.$major" ||
        ko "hakmem-run does not name $HAK_LIBDIR/libhakmem.so.$major"
    HAKMEM_LIB=$d$HAK_LIBDIR/libhakmem.so.$major "$run" cat /proc/self/maps | grep -q libhakmem &&
        ok "hakmem-run cat: hakmem is loaded" || ko "hakmem-run cat: hakmem is not loaded"
fi
exit $fail
