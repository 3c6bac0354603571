#!/bin/sh
# Installs the Debian packages wasmgrid needs to build, test and run, when missing.
# Called by `make deps` (and so by `make demo` and `make test`). Downloads nothing else.
set -e
PKGS="build-essential pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler
libsodium-dev libsqlite3-dev sqlite3 libpq-dev postgresql libcurl4-openssl-dev libseccomp-dev wabt tcc
clang clang-format clang-tidy lld wasi-libc libclang-rt-14-dev-wasm32 libclang-rt-14-dev nodejs curl python3
chromium prometheus iproute2 nftables"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q $missing
