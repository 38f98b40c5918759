#!/bin/sh
# hakmem tests: memcheck reports bugs in hakmem's blocks (memcheck.py).
# Skipped (77) without valgrind, without python3, or in a build without
# hakmem's valgrind support (configure --disable-valgrind, or no
# valgrind/valgrind.h).
: "${HAK_BUILDDIR:?HAK_BUILDDIR is not set}"
if ! grep -q '^#define HAK_TRACK_VALGRIND 1' "$HAK_BUILDDIR/config.h"; then
  echo "SKIP: built without valgrind support"
  exit 77
fi
if ! command -v "${VALGRIND:-valgrind}" >/dev/null 2>&1; then
  echo "SKIP: valgrind not found"
  exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 not found"
  exit 77
fi
exec python3 "$(dirname "$0")/memcheck.py"
