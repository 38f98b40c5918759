#!/bin/sh
# Memory goes back to the OS: after hak_trim(), and by the decay alone.
: "${HAK_BUILDDIR:=.}"
"$HAK_BUILDDIR/tests/trim" trim || exit 1
HAKMEM_DECAY_MS=200 "$HAK_BUILDDIR/tests/trim" decay || exit 1
