#!/bin/sh
# Thread churn and producer/consumer: bounded memory, no live block left.
# HAKMEM_CHURN_THREADS sets the number of threads (default 4000 in make
# check; tools/test-all runs the full 20,000 once).
# tools/test-all runs the plan-independent tests in the default build only.
if [ -n "${HAKMEM_QUICK_CHECK:-}" ]; then
    echo "SKIP: HAKMEM_QUICK_CHECK: plan-independent, run in the default build"
    exit 77
fi
: "${HAK_BUILDDIR:=.}"
"$HAK_BUILDDIR/tests/churn" "${HAKMEM_CHURN_THREADS:-4000}" || exit 1
"$HAK_BUILDDIR/tests/prodcons" || exit 1
