#!/usr/bin/env bash
# The shipped Prometheus alert rules: valid (`promtool check rules`) and firing when they should
# (`promtool test rules` on synthetic series). promtool comes from scripts/setup.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
promtool="$repo/.cache/prometheus/promtool"
[ -x "$promtool" ] || { echo "no $promtool: run scripts/setup" >&2; exit 1; }
cd "$repo/deploy/prometheus"
"$promtool" check rules transferwatch.rules.yml
"$promtool" test rules transferwatch.rules.test.yml
