#!/bin/sh
# The house's own checks, run by `make lint` (and so by `make test`):
#  1. no file includes a header of a higher layer (tools/check-layers.sh, docs/layers.md);
#  2. every C file of the repository is formatted as .clang-format says
#     (fix with `make format`);
#  3. clang-tidy, with the checks of .clang-tidy, finds nothing in src/.
# Needs the generated protocol header (build/gen); the Makefile builds it first.
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
status=0

./tools/check-layers.sh || status=1

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests fuzz bench examples -name '*.[ch]')
unformatted=""
for f in $files; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted="$unformatted $f"
done
if [ -n "$unformatted" ]; then
	echo "format: not as .clang-format says (run 'make format'):$unformatted"
	status=1
else
	echo "format: $(echo "$files" | wc -w) files as .clang-format says"
fi

# The libraries are the Makefile's PKGS (stated there only).
pkgs=$(sed -n 's/^PKGS *:= *//p' Makefile)
flags="-std=c11 -D_GNU_SOURCE -Isrc -I$BUILD/gen $(pkg-config --cflags $pkgs 2>/dev/null)"
out=$(find src -name '*.c' | sort |
	xargs -P "$(nproc)" -I{} sh -c "clang-tidy -quiet {} -- $flags 2>/dev/null")
if echo "$out" | grep -q 'warning:\|error:'; then
	echo "$out"
	echo "clang-tidy: $(echo "$out" | grep -c 'warning:\|error:') problem(s) above"
	status=1
else
	echo "clang-tidy: nothing found in $(find src -name '*.c' | wc -l) files"
fi
exit $status
