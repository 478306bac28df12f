#!/usr/bin/env bash
# What CI runs for weft::hook beyond the ctest suites (which already cover the
# hook unit tests, hiredis, libcurl, legacy_port at 10,000 clients, and the
# static and dynamic hooked program): the benchmark smoke run, and a consumer
# of the installed package linking weft::hook (whole-archive through CMake).
# Usage: scripts/ci-hook.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh ci

echo "== bench/run-hook.sh --quick"
bench/run-hook.sh --quick --no-install

echo "== installed package: find_package(weft) + weft::hook"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-hook-ci.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cmake -S . -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
  -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF >"$tmp/configure.log"
cmake --build "$tmp/build" -j2 >"$tmp/build.log"
cmake --install "$tmp/build" --prefix "$tmp/prefix" >"$tmp/install.log"
mkdir "$tmp/app"
cat >"$tmp/app/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(hooked_app LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(weft REQUIRED)
add_executable(hooked_app main.cpp)
target_link_libraries(hooked_app PRIVATE weft::weft weft::hook)
CMAKE
cat >"$tmp/app/main.cpp" <<'CPP'
// A blocking sleep in a weft::thread: with the hooks linked, two of them overlap.
#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <weft/weft.hpp>
int main() {
    std::atomic<int> asleep{0};
    int peak = 0;
    weft::run([&] {
        weft::thread a([&] { ++asleep; usleep(20000); --asleep; });
        weft::thread b([&] { ++asleep; peak = asleep.load(); usleep(20000); --asleep; });
        a.join();
        b.join();
    });
    std::printf("hooked_app: peak %d sleeping at once\n", peak);
    return peak == 2 ? 0 : 1;
}
CPP
cmake -S "$tmp/app" -B "$tmp/app/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/app.log"
cmake --build "$tmp/app/build" >>"$tmp/app.log"
"$tmp/app/build/hooked_app"
echo "scripts/ci-hook.sh: ok"
