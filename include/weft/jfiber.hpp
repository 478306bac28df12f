// weft::jfiber: a fiber with std::jthread's manners: it owns a
// std::stop_source, hands its token to the function if that takes one, and
// its destructor requests stop and joins.
#pragma once

#include <exception>
#include <functional>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "weft/fiber.hpp"
#include "weft/stop.hpp"

namespace weft {

namespace detail {
[[noreturn]] void jfiber_uncaught(std::exception_ptr e) noexcept;
}

// The fiber's whole function runs inside a weft::stop_scope on the
// jfiber's token, so request_stop() (or the destructor) also ends the
// blocking call it is parked in, and every later one, with
// std::errc::operation_canceled: a fiber stuck in a channel recv, a sleep,
// a socket read or a condition_variable wait is released and can return.
// A function taking a std::stop_token first gets it (std::jthread's rule)
// and may also poll st.stop_requested().
//
//   weft::jfiber pump = weft::spawn_jfiber([&](std::stop_token st) {
//       while (auto v = in.recv()) out.send(*v);   // throws operation_canceled on stop
//   });
//   // ~jfiber: request_stop(), join()
//
// join() rethrows what escaped the function, as fiber_handle::join() does;
// the destructor cannot, so an exception escaping a jfiber that is joined
// by its destructor is fatal (reported, then abort), except the
// operation_canceled a stop made it throw (std::system_error with that
// code), which is the expected way out. Move-only; moving into a joinable
// jfiber stops and joins that one first, as std::jthread does.
class jfiber {
public:
    jfiber() noexcept = default;
    // Starts std::invoke(decay-copy(f), token, decay-copy(args)...) when f
    // takes a std::stop_token first, else without it; placement and stack
    // as weft::spawn with `opts` (weft::spawn_jfiber).
    template <class F, class... Args,
              class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, jfiber> &&
                                       !std::is_same_v<std::remove_cvref_t<F>, spawn_options>>>
    explicit jfiber(F&& f, Args&&... args) : jfiber(spawn_options{}, std::forward<F>(f), std::forward<Args>(args)...) {}
    template <class F, class... Args>
    jfiber(const spawn_options& opts, F&& f, Args&&... args) {
        using Fn = std::decay_t<F>;
        constexpr bool takes_token = std::is_invocable_v<Fn, std::stop_token, std::decay_t<Args>...>;
        static_assert(takes_token || std::is_invocable_v<Fn, std::decay_t<Args>...>,
                      "weft::jfiber: f must be invocable as f(std::stop_token, args...) or f(args...)");
        handle_ = detail::spawn_in(
            nullptr,
            [fn = Fn(std::forward<F>(f)), args_ = std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...),
             st = stop_.get_token()]() mutable {
                stop_scope scope{st};
                if constexpr (takes_token) {
                    std::apply([&](auto&&... a) { std::invoke(std::move(fn), st, std::move(a)...); }, args_);
                } else {
                    std::apply(std::move(fn), std::move(args_));
                }
            },
            opts);
    }

    jfiber(jfiber&& o) noexcept = default;
    jfiber& operator=(jfiber&& o) noexcept {
        if (this != &o) {
            finish();
            handle_ = std::move(o.handle_);
            stop_ = std::move(o.stop_);
        }
        return *this;
    }
    jfiber(const jfiber&) = delete;
    jfiber& operator=(const jfiber&) = delete;
    ~jfiber() { finish(); }

    bool joinable() const noexcept { return handle_.joinable(); }
    // As fiber_handle: waits, rethrows what escaped the function.
    void join() { handle_.join(); }
    void detach() { handle_.detach(); }
    // Any thread. True when this call made the request.
    bool request_stop() noexcept { return stop_.request_stop(); }
    std::stop_source get_stop_source() noexcept { return stop_; }
    std::stop_token get_stop_token() const noexcept { return stop_.get_token(); }
    fiber_id id() const noexcept { return handle_.id(); }
    std::string_view name() const noexcept { return handle_.name(); }

private:
    void finish() noexcept {
        if (!handle_.joinable()) return;
        stop_.request_stop();
        try {
            handle_.join();
        } catch (const std::system_error& e) {
            if (e.code() != std::errc::operation_canceled) detail::jfiber_uncaught(std::current_exception());
        } catch (...) {
            detail::jfiber_uncaught(std::current_exception());
        }
    }

    std::stop_source stop_;
    fiber_handle handle_;
};

// weft::spawn for a jfiber: spawn_jfiber(fn, {.name = "pump"}).
template <class F>
jfiber spawn_jfiber(F&& fn, const spawn_options& opts = {}) {
    return jfiber(opts, std::forward<F>(fn));
}

}  // namespace weft
