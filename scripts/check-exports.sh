#!/usr/bin/env bash
# The shared library must export exactly the functions vial.h declares:
# nothing internal leaks (vial__*, llhttp_*), nothing declared is missing.
set -euo pipefail
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TW]$/ {print $3}' | sort -u)
declared=$(grep -oE '^VIAL_API[^;(]*\b(vial_[a-z0-9_]+)\s*\(' "$header" |
           grep -oE 'vial_[a-z0-9_]+\s*\($' | tr -d '( ' | sort -u)
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
status=0
[[ -n $extra ]] && { echo "exported but not in vial.h:"; echo "$extra"; status=1; }
[[ -n $missing ]] && { echo "declared in vial.h but not exported:"; echo "$missing"; status=1; }
((status == 0)) && echo "exports match vial.h ($(echo "$declared" | wc -l) functions)"
exit $status
