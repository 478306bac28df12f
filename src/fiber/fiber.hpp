// The fiber control block. It lives at the top of the fiber's own stack, so
// creating a fiber is one pool pop and no heap allocation.
#pragma once

#include <atomic>
#include <cstddef>
#include <climits>
#include <cstdint>
#include <exception>
#include <vector>

#include "context/annotate.hpp"
#include "platform/clock.hpp"
#include "stack/stack_pool.hpp"
#include "weft/fiber.hpp"

namespace weft::detail {

class worker;
struct timer_node;

// fiber::join_state beyond the joiner's waiter pointer: still running with no joiner,
// finished, or detached. One exchange at exit decides who frees the fiber.
inline constexpr std::uintptr_t join_running = 0;
inline constexpr std::uintptr_t join_done = 1;
inline constexpr std::uintptr_t join_detached = 2;

enum class fiber_state : std::uint8_t {
    ready,     // in a run queue
    running,
    blocked,   // parked until another fiber wakes it (join, later: mutex, channel, I/O)
    sleeping,  // parked on a timer
    finished,  // fn returned or threw; waiting to be joined
};
const char* to_string(fiber_state s) noexcept;

// Why a parked fiber was made ready again.
enum class wake_reason : std::uint8_t {
    none,
    ready,     // what it waited for happened (I/O readiness, join, explicit wake)
    timeout,   // its deadline passed
    canceled,  // fiber_handle::cancel()
    closed,    // the fd it waited on was closed by weft
};

// What a parked fiber waits for: set by the wait primitive when a wait
// begins, read by the dump, the deadlock report and tools/weft-gdb.py (which
// prints the enumerator's name, so keep names short and meaningful).
enum class wait_reason : std::uint8_t {
    none,
    sleep,
    fd_read,             // readiness of a socket or pipe (wait_fd says which)
    fd_write,
    join,
    mutex,
    shared_mutex,
    condition_variable,
    semaphore,
    event,
    wait_group,
    barrier,
    call_once,
    future,
    channel_send,
    channel_recv,
    select,
    offload,             // a job on the offload pool
    offload_queue,       // room in the offload pool's full queue
    signal,
    poll,                // a hooked poll/select/epoll_wait
    quiescence,          // runtime::run waiting for every fiber to end
};
inline constexpr wait_reason wait_reason_last = wait_reason::quiescence;  // keep it the last one
const char* to_string(wait_reason r) noexcept;

// The C++ runtime's per-thread exception state (__cxa_eh_globals in the
// Itanium ABI: the stack of handled exceptions and the uncaught count). It
// belongs to the fiber, not the thread: a fiber that parks inside a catch
// block must find its own exception there when it resumes.
struct eh_state {
    void* caught = nullptr;
    unsigned int uncaught = 0;
};

struct fls_entry {
    void* value = nullptr;
    void (*destroy)(void*) noexcept = nullptr;
};
using fls_table = std::vector<fls_entry>;

struct fiber {
    void* sp = nullptr;       // saved stack pointer while suspended
    fiber* next = nullptr;    // run-queue link
    std::uint64_t queued_at = 0;  // the worker's queue clock when it was queued: FIFO across its two queues
    unsigned queued_tick = 0;     // the worker's scheduling passes then (see worker::steal)
    fiber* all_prev = nullptr;  // the worker's list of live fibers, for dumps
    fiber* all_next = nullptr;
    // The worker that runs it. Changes only while the fiber sits in a run
    // queue (stolen before it starts, or a migratable fiber), written by the
    // worker giving it away; other threads read it to post wake-ups.
    std::atomic<worker*> owner{nullptr};
    fiber_state state = fiber_state::ready;
    bool started = false;     // has run at least once
    bool pinned = false;      // placed by spawn_options::worker: never stolen
    bool migratable = false;  // may change workers at a yield() after it started
    bool yielded = false;     // in a run queue because it yielded (a migratable fiber may move)
    bool foreign_stack = false;  // taken from a runtime's shared pool, by a thread outside it
    bool listed = false;      // in its worker's list of live fibers
    // join_running, join_done, join_detached, or the joiner's waiter*.
    std::atomic<std::uintptr_t> join_state{join_running};
    fiber_id id = 0;
    const fiber_fn* fn = nullptr;
    void* fn_storage = nullptr;
    std::exception_ptr error;
    fls_table* fls = nullptr;
    wait_reason waiting_on = wait_reason::none;  // what a parked fiber waits for, for dumps
    int wait_fd = -1;              // the fd, when it waits on one
    std::int64_t wait_since_ns = 0;  // when the current park began, for dumps
    wake_reason wake = wake_reason::none;
    bool cancelable_wait = false;  // the current park may be ended by cancel()
    std::atomic<bool> cancel_requested{false};  // set from any thread
    // Enclosing stop_scopes (weft/stop.hpp) whose stop was requested: while
    // nonzero, blocking calls fail as if canceled. Unlike cancel_requested it
    // goes back down when those scopes end.
    std::atomic<unsigned> stops{0};
    std::int64_t scope_deadline = no_deadline;  // earliest enclosing deadline_scope
    // Numbers waits other threads may end, so late wakes are dropped.
    std::atomic<std::uint64_t> wait_seq{0};
    timer_node* timer = nullptr;   // the current park's deadline, removed by whoever wakes it
    eh_state eh;
    stack stk;                     // empty for a thread's own stack
    context_annotations annot;
    char name[32] = {};
    // The fiber's node in a worker's remote queue (sched/worker_remote.cpp):
    // what other threads asked of it (its rb_ bits), the newest wait a wake
    // was posted for, and the queue link, owned by whoever holds the node.
    // Last, on a line of their own: the fields a switch touches keep their places.
    alignas(64) std::atomic<std::uint32_t> remote_bits{0};
    std::atomic<std::uint64_t> remote_seq{0};
    fiber* remote_next = nullptr;
};

// Whether f's blocking calls must fail with operation_canceled now: it was
// canceled, or a stop_scope it is in was stopped.
inline bool fiber_canceled(const fiber* f) noexcept {
    return f->cancel_requested.load(std::memory_order_seq_cst) || f->stops.load(std::memory_order_seq_cst) != 0;
}

// Only the fiber's own worker writes wait_seq (others just compare it), so
// this needs no locked instruction.
inline std::uint64_t bump_wait_seq(fiber* f) noexcept {
    const std::uint64_t next = f->wait_seq.load(std::memory_order_relaxed) + 1;
    f->wait_seq.store(next, std::memory_order_relaxed);
    return next;
}

// Builds a control block at the top of `s`, with room below it for a callable
// of fn_size/fn_align bytes, and a fresh context entering `entry` below that.
// Returns nullptr when the callable would not leave enough stack.
fiber* fiber_create(const stack& s, std::string_view name, std::size_t fn_size,
                    std::size_t fn_align, void (*entry)(void*));

// Destroys fiber-local values of f (runs on f itself, before it ends).
void fls_destroy_all(fiber* f) noexcept;

fiber_id next_fiber_id() noexcept;

}  // namespace weft::detail
