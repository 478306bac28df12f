// A target for tests/debug/check_gdb_fibers.sh: named fibers parked in
// different ways (sleep, channel recv, socket read, join, not yet started)
// while the "main" fiber stops in weft_gdb_stop_here(); tools/weft-gdb.py must
// list them all and unwind each one into the uniquely named function it is
// parked in. A plain (non-weft) thread waits alongside. Run alone, the program
// wakes every fiber afterwards and exits 0.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "weft/weft.hpp"

using namespace std::chrono_literals;

namespace {
std::atomic<int> sink{0};

std::mutex plain_mu;
std::condition_variable plain_cv;
bool plain_done = false;
}  // namespace

// Named, noinline and with work after the blocking call (no tail call), so
// each is a frame of its fiber's backtrace.
extern "C" {
__attribute__((noinline, used)) void weft_gdb_stop_here() {
    asm volatile("" ::: "memory");
    sink.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((noinline)) void gdb_parked_in_sleep() {
    std::error_code ec;
    weft::this_fiber::sleep_for(10min, ec);  // ended by cancel()
    sink.fetch_add(ec ? 1 : 2, std::memory_order_relaxed);
}

__attribute__((noinline)) void gdb_parked_in_channel_recv(weft::channel<int>* ch) {
    std::optional<int> v = ch->recv();
    sink.fetch_add(v ? *v : 0, std::memory_order_relaxed);
}

__attribute__((noinline)) void gdb_parked_in_socket_read(weft::net::tcp_stream* s) {
    char c = 0;
    const std::size_t n = s->read(&c, 1);
    sink.fetch_add(static_cast<int>(n) + c, std::memory_order_relaxed);
}

__attribute__((noinline)) void gdb_parked_in_join(weft::fiber_handle* h) {
    h->join();
    sink.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((noinline)) void gdb_never_started() { sink.fetch_add(1, std::memory_order_relaxed); }
}

int main() {
    std::thread plain([] {  // a thread with no worker: this_worker is null there
        std::unique_lock<std::mutex> lock(plain_mu);
        plain_cv.wait(lock, [] { return plain_done; });
    });
    weft::run([] {
        auto listener = weft::net::tcp_listener::bind(weft::net::address::loopback_v4(0));
        auto client = weft::net::tcp_stream::connect(listener.local_address());
        auto server = listener.accept();
        weft::channel<int> ch;

        auto sleeper = weft::spawn([] { gdb_parked_in_sleep(); }, {.name = "sleeper"});
        auto receiver = weft::spawn([&] { gdb_parked_in_channel_recv(&ch); }, {.name = "receiver"});
        auto reader = weft::spawn([&] { gdb_parked_in_socket_read(&server); }, {.name = "reader"});
        auto joiner = weft::spawn([&] { gdb_parked_in_join(&receiver); }, {.name = "joiner"});
        // Let every one of them run up to its park.
        for (int i = 0; i < 4; ++i) weft::this_fiber::yield();
        auto fresh = weft::spawn([] { gdb_never_started(); }, {.name = "fresh"});

        weft_gdb_stop_here();

        sleeper.cancel();
        ch.send(40);
        const char c = 2;
        client.write_all(&c, 1);
        sleeper.join();
        joiner.join();
        reader.join();
        fresh.join();
    });
    {
        std::lock_guard<std::mutex> lock(plain_mu);
        plain_done = true;
    }
    plain_cv.notify_one();
    plain.join();
    std::printf("gdb_target done, sink=%d\n", sink.load());
    return 0;
}
