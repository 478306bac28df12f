// weft's C API (include/weft/c.h): weft::thread and weft::run behind
// pthread-style functions. Errors come back as errno values; no exception
// leaves a function here.
#include "weft/c.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <new>
#include <system_error>
#include <thread>

#include "weft/run.hpp"
#include "weft/this_fiber.hpp"
#include "weft/thread.hpp"

// One reference for the fiber, one for the handle: whichever lets go last
// (the fiber ending, or join/detach) frees it.
struct weft_thread {
    weft::thread th;
    void* ret = nullptr;
    std::atomic<int> refs{2};
};

namespace {

void drop(weft_thread* t) noexcept {
    if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete t;
}

int to_errno(const std::system_error& e) noexcept {
    const std::error_code& c = e.code();
    if (c == std::errc::resource_deadlock_would_occur) return EDEADLK;
    if (c == std::errc::invalid_argument) return EINVAL;
    if (c == std::errc::not_enough_memory) return ENOMEM;
    if (c == std::errc::no_such_process) return ESRCH;
    return EAGAIN;  // out of stacks, or the process runtime could not start
}

}  // namespace

extern "C" {

int weft_thread_create(weft_thread_t* thread, void* (*fn)(void*), void* arg) {
    if (!thread || !fn) return EINVAL;
    weft_thread* t = new (std::nothrow) weft_thread;
    if (!t) return EAGAIN;
    try {
        t->th = weft::thread([t, fn, arg] {
            t->ret = fn(arg);
            drop(t);
        });
    } catch (const std::system_error& e) {
        delete t;
        return to_errno(e);
    } catch (const std::bad_alloc&) {
        delete t;
        return EAGAIN;
    } catch (...) {
        delete t;
        return EAGAIN;
    }
    *thread = t;
    return 0;
}

int weft_thread_join(weft_thread_t thread, void** ret) {
    if (!thread) return EINVAL;
    try {
        thread->th.join();
    } catch (const std::system_error& e) {
        return to_errno(e);
    }
    if (ret) *ret = thread->ret;
    drop(thread);
    return 0;
}

int weft_thread_detach(weft_thread_t thread) {
    if (!thread) return EINVAL;
    try {
        thread->th.detach();
    } catch (const std::system_error& e) {
        return to_errno(e);
    }
    drop(thread);
    return 0;
}

int weft_in_fiber(void) { return weft::in_fiber() ? 1 : 0; }

void weft_yield(void) {
    try {
        weft::this_thread::yield();
    } catch (...) {
    }
}

int weft_sleep_ms(unsigned long ms) {
    const std::chrono::milliseconds d(static_cast<std::chrono::milliseconds::rep>(ms));
    if (!weft::in_fiber()) {
        std::this_thread::sleep_for(d);
        return 0;
    }
    std::error_code ec;
    weft::this_fiber::sleep_for(d, ec);
    return ec == std::errc::operation_canceled ? EINTR : 0;
}

int weft_run(void (*fn)(void*), void* arg) {
    if (!fn) return EINVAL;
    if (weft::worker_index() >= 0) return EDEADLK;  // this thread is a worker already
    try {
        weft::run([fn, arg] { fn(arg); });
    } catch (const std::system_error& e) {
        return to_errno(e);
    } catch (...) {
        return EAGAIN;
    }
    return 0;
}

}  // extern "C"
