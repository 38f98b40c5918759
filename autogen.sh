#!/bin/sh
# Regenerates the build system (configure, Makefile.in) from git sources.
set -e
cd "$(dirname "$0")"
autoreconf -fi
