// weft::signal_wait: park a fiber until the process receives one of some
// signals (a server's SIGINT/SIGTERM), without blocking its worker.
#pragma once

#include <initializer_list>
#include <system_error>

namespace weft {

// Installs a handler for each signal (once; it stays installed) and waits
// until one arrives; returns its number. Any number of fibers and threads may
// wait at once (up to 64): each arrival wakes every waiter whose set holds it.
// A signal arriving while nobody waits for it gets its default action.
// From a fiber it parks; elsewhere it blocks the thread. Honours cancel and
// deadline_scope (operation_canceled / timed_out, thrown as std::system_error).
int signal_wait(std::initializer_list<int> signals);
int signal_wait(std::initializer_list<int> signals, std::error_code& ec);

}  // namespace weft
