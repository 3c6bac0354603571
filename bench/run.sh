#!/usr/bin/env bash
# Runs every benchmark: each bench/NAME/run.sh in turn, with the build it needs.
# Usage: bench/run.sh [NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for d in bench/*/; do [ -x "$d/run.sh" ] && names+=("$(basename "$d")"); done
fi
echo "# wasmgrid benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for n in "${names[@]}"; do
	echo
	echo "## $n"
	"bench/$n/run.sh"
done
