#!/usr/bin/env python3
"""hakmem tests: memcheck sees hakmem's blocks.

Runs every case of tests/valgrind/bugs.c, in each of its three builds
(hak_* functions from libhakmem.so; malloc with libhakmem.so preloaded;
malloc with hakmem linked into the program), under valgrind's memcheck
with hakmem really allocating (--soname-synonyms=somalloc=nouserintercepts).
From memcheck's XML report each run must show exactly the seeded bug: one
kind of error, described as expected (which block, how far off), and a
program without a bug must show no error at all.

Environment: HAK_BUILDDIR (the build directory), VALGRIND (default
valgrind), HAKMEM_QUICK_CHECK (if set, only the first of the builds).
tests/valgrind/memcheck.sh skips the test when valgrind or hakmem's
valgrind support is missing.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

BUILD = os.environ["HAK_BUILDDIR"]
HERE = os.path.dirname(os.path.abspath(__file__))
VALGRIND = os.environ.get("VALGRIND") or "valgrind"

# case -> None (no error at all) or (memcheck error kind, regex the error's
# description must match: an auxwhat line, or a leak's text)
EXPECT = {
    "clean": None,
    "clean-threads": None,
    "overflow": ("InvalidWrite", r"is 0 bytes after .*block of size 10 alloc'd"),
    "underflow": ("InvalidWrite", r"is 1 bytes before .*block of size 40 alloc'd"),
    "overflow-large": ("InvalidWrite", r"is 0 bytes after .*block of size 100,000 alloc'd"),
    "read-after-free": ("InvalidRead", r"is 3 bytes inside a block of size 32 free'd"),
    "double-free": ("InvalidFree", r"is 0 bytes inside a block of size 48 free'd"),
    "invalid-free": ("InvalidFree", r"is 8 bytes inside .*block of size 32 alloc'd"),
    "invalid-free-stack": ("InvalidFree", r"is on thread 1's stack"),
    "leak": ("Leak_DefinitelyLost", r"^100 bytes in 1 blocks are definitely lost"),
    "uninitialised": ("UninitCondition", r"depends on uninitialised value"),
    "realloc-freed": ("InvalidFree", r"is 0 bytes inside a block of size 40 free'd"),
}

LIB = os.path.join(BUILD, ".libs", "libhakmem.so")
FLAVORS = {
    "hak": {},
    "preload": {"LD_PRELOAD": LIB},
    "static": {},
}

ERROR_EXIT = 99


def memcheck_args(xml):
    return [
        VALGRIND,
        "--tool=memcheck",
        "--soname-synonyms=somalloc=nouserintercepts",
        "--suppressions=" + os.path.join(HERE, "hakmem.supp"),
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--show-leak-kinds=definite",
        "--error-exitcode=%d" % ERROR_EXIT,
        "--xml=yes",
        "--xml-file=" + xml,
    ]


def errors_of(xml):
    """[(kind, [description lines])] of the errors in a memcheck XML report."""
    found = []
    for err in ET.parse(xml).getroot().iter("error"):
        lines = [e.text or "" for e in err.iter("auxwhat")]
        lines += [e.text or "" for e in err.iter("what")]
        lines += [e.text or "" for e in err.iter("text")]
        found.append((err.findtext("kind"), lines))
    return found


def run(flavor, case, tmp):
    """Returns (ok, message)."""
    prog = os.path.join(BUILD, "tests", "valgrind", "bugs_" + flavor)
    xml = os.path.join(tmp, "%s-%s.xml" % (flavor, case))
    env = dict(os.environ, **FLAVORS[flavor])
    proc = subprocess.run(memcheck_args(xml) + [prog, case], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    try:
        errors = errors_of(xml)
    except (OSError, ET.ParseError) as e:
        return False, "no memcheck report (%s); exit %d, stderr:\n%s" % (e, proc.returncode, proc.stderr)
    summary = "; ".join("%s: %s" % (k, " / ".join(l for l in lines if l)) for k, lines in errors[:4])
    expect = EXPECT[case]
    if expect is None:
        if errors or proc.returncode != 0:
            return False, "expected no error, got exit %d: %s %s" % (proc.returncode, summary, proc.stderr)
        return True, ""
    kind, pattern = expect
    kinds = {k for k, _ in errors}
    if kinds != {kind}:
        return False, "expected only %s, got %s" % (kind, summary or "no error")
    if not any(re.search(pattern, line) for _, lines in errors for line in lines):
        return False, "%s not described as /%s/: %s" % (kind, pattern, summary)
    if proc.returncode != ERROR_EXIT:
        return False, "exit %d, expected %d: %s" % (proc.returncode, ERROR_EXIT, proc.stderr)
    return True, ""


def main():
    # Preloading replaces malloc only if the library defines it (not in a
    # --with-malloc-prefix build).
    names = os.path.join(os.environ.get("HAK_BUILDDIR", "."), "include", "hakmem_names.h")
    overrides = not os.path.exists(names) or "#define HAKMEM_OVERRIDES_MALLOC 1" in open(names).read()
    flavors = [f for f in FLAVORS if f != "preload" or (os.path.exists(LIB) and overrides)]
    # How the program reaches hakmem does not depend on the tier plan: with
    # HAKMEM_QUICK_CHECK (every build but the default one) one way does.
    if os.environ.get("HAKMEM_QUICK_CHECK"):
        flavors = flavors[:1]
    jobs = [(f, c) for f in flavors for c in EXPECT]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, \
            ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda job: run(job[0], job[1], tmp), jobs)
        for (flavor, case), (ok, message) in zip(jobs, results):
            print("%s: %s %s" % ("PASS" if ok else "FAIL", flavor, case))
            if not ok:
                failed += 1
                print("    " + message.strip().replace("\n", "\n    "))
    print("memcheck: %d runs, %d failed" % (len(jobs), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
