#!/bin/sh
# Checks that no source file includes a header of a higher layer (docs/layers.md).
# Each layer of src/ may include its own headers and those of the layers listed for it;
# anything else fails, with the file, the line and the rule broken. Run by `make lint`.
cd "$(dirname "$0")/.." || exit 2
allowed() { # layer -> the other layers it may include
	case $1 in
	util) echo "" ;;
	net) echo "util" ;;
	http) echo "util" ;;
	engine) echo "util" ;;
	node) echo "util net" ;;
	manager) echo "util net http node" ;;
	worker) echo "util net node engine" ;;
	cli) echo "util net http node engine manager worker" ;;
	main) echo "cli util" ;;
	*) echo "?" ;;
	esac
}
check() {
	for f in $(find src -name '*.c' -o -name '*.h' | sort); do
		case $f in
		src/main.c) layer=main ;;
		*) layer=$(echo "$f" | cut -d/ -f2) ;;
		esac
		ok=$(allowed "$layer")
		if [ "$ok" = "?" ]; then
			echo "$f: the folder src/$layer is not a layer of docs/layers.md"
			continue
		fi
		grep -n '^#include "[a-z_]*/' "$f" | while IFS= read -r line; do
			n=${line%%:*}
			dep=$(echo "$line" | sed 's/^[0-9]*:#include "\([a-z_]*\)\/.*/\1/')
			[ "$dep" = "$layer" ] && continue
			case " $ok " in *" $dep "*) continue ;; esac
			echo "$f:$n: $layer may not include $dep/ (allowed: ${ok:-nothing else})"
		done
	done
}
problems=$(check)
if [ -n "$problems" ]; then
	echo "$problems"
	exit 1
fi
echo "layers: every include goes down ($(find src -name '*.[ch]' | wc -l) files)"
