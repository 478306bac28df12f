#!/usr/bin/env bash
# Installs the Debian packages weft needs, only those that are missing.
# Usage: scripts/install-deps.sh [base|ci]   (base: build, every test and the demo, including
#   gdb and hiredis/redis-server/libcurl for the debug and weft::hook tests, OpenSSL for TLS; ci: adds
#   cross/qemu/clang/libFuzzer and the benchmark peers)
set -euo pipefail
set_name=${1:-base}
pkgs=(build-essential cmake ninja-build pkg-config libgtest-dev libgmock-dev
      libbenchmark-dev libboost-context-dev libboost-fiber-dev valgrind libhttp-parser-dev
      gdb libhiredis-dev redis-server libcurl4-openssl-dev libdw-dev liburing-dev
      libssl-dev openssl socat)
if [ "$set_name" = ci ]; then
  pkgs+=(clang libclang-rt-14-dev qemu-user g++-aarch64-linux-gnu googletest wrk nginx-light golang-go
        libboost-system-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "weft: installing missing packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
