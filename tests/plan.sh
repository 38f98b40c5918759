#!/bin/sh
# The tier plan of this build: hak_tier_plan() says it, and the library
# holds the code of the planned tiers only (nm shows no symbol of another).
: "${HAK_BUILDDIR:=.}"
b="$HAK_BUILDDIR"
plan=$(sed -n 's/^#define HAK_PLAN_STRING "\(.*\)"$/\1/p' "$b/src/hak_plan.h")
[ -n "$plan" ] || { echo "FAIL: no plan in src/hak_plan.h"; exit 1; }
# The static library, or the shared one in a build without it (its symbol
# table, not only the dynamic one: the ops tables are hidden).
lib="$b/.libs/libhakmem.a"
[ -f "$lib" ] || lib="$b/.libs/libhakmem.so"
name=${lib##*/}
fail=0
for tier in fast ultra-sll tls-list magazine; do
  sym="_hak_$(echo "$tier" | tr - _)_ops"
  case ",$plan," in
    *",$tier,"*) want=1 ;;
    *) want=0 ;;
  esac
  have=$(nm "$lib" 2>/dev/null | grep -c " $sym\$")
  if [ "$want" = 1 ] && [ "$have" -eq 0 ]; then
    echo "FAIL: $tier is in the plan ($plan) but $sym is not in $name"; fail=1
  elif [ "$want" = 0 ] && [ "$have" -ne 0 ]; then
    echo "FAIL: $tier is not in the plan ($plan) but $name has $sym"; fail=1
  else
    echo "PASS: $tier $( [ "$want" = 1 ] && echo compiled in || echo absent)"
  fi
done
case "$plan" in
  *superslab) echo "PASS: plan $plan ends with superslab" ;;
  *) echo "FAIL: plan $plan does not end with superslab"; fail=1 ;;
esac
exit $fail
