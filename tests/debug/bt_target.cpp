// A target for tests/debug/check_bt.sh: gdb stops in weft_bt_here() on the
// fiber "walker", three named frames deep, while a second fiber ("parked")
// sits suspended in yield/sleep_for. The backtrace must walk
// weft_bt_here <- level_three <- level_two <- level_one <- the lambda <- weft's
// fiber entry <- weft_trampoline and stop there, cleanly.
#include <atomic>
#include <chrono>
#include <cstdio>

#include "weft/weft.hpp"

namespace {
std::atomic<int> sink{0};
std::atomic<bool> walker_done{false};
}  // namespace

// The suspended fiber's handle, for bt_check.gdb: it reads the saved stack
// pointer through it and unwinds the parked fiber from inside weft_switch.
extern "C" {
__attribute__((used)) weft::fiber_handle* weft_bt_parked = nullptr;
}

// extern "C" and noinline so gdb's `break weft_bt_here` finds one plain symbol.
extern "C" __attribute__((noinline, used)) void weft_bt_here(int depth) {
    asm volatile("" ::: "memory");  // keep the call and the function
    sink.fetch_add(depth, std::memory_order_relaxed);
}

// Each level does work after its call, so none of the calls becomes a tail call
// (a tail call would drop the caller's frame from the backtrace).
__attribute__((noinline)) void level_three(int x) {
    asm volatile("");
    weft_bt_here(x + 3);
    sink.fetch_add(3, std::memory_order_relaxed);
}

__attribute__((noinline)) void level_two(int x) {
    asm volatile("");
    level_three(x + 2);
    sink.fetch_add(2, std::memory_order_relaxed);
}

__attribute__((noinline)) void level_one(int x) {
    asm volatile("");
    level_two(x + 1);
    sink.fetch_add(1, std::memory_order_relaxed);
}

int main() {
    weft::run([] {
        // Parked before the walker runs: it yields until the walker has
        // finished, sleeping in between, so it is always suspended (in
        // sleep_for or yield) while gdb looks at the walker.
        auto parked = weft::spawn(
            [] {
                while (!walker_done.load(std::memory_order_relaxed)) {
                    weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
                    weft::this_fiber::yield();
                }
            },
            {.name = "parked"});
        weft_bt_parked = &parked;
        weft::this_fiber::yield();  // let "parked" run once and park
        auto walker = weft::spawn(
            [] {
                level_one(0);
                walker_done.store(true, std::memory_order_relaxed);
            },
            {.name = "walker"});
        walker.join();
        weft_bt_parked = nullptr;
        parked.join();
    });
    std::printf("bt_target done, sink=%d\n", sink.load());
    return 0;
}
