// weft: stackful fibers for C++. This umbrella header includes the whole public API.
#pragma once

#include "weft/deadline.hpp"
#include "weft/fiber.hpp"
#include "weft/fiber_local.hpp"
#include "weft/net.hpp"
#include "weft/offload.hpp"
#include "weft/run.hpp"
#include "weft/sync/condition_variable.hpp"
#include "weft/sync/mutex.hpp"
#include "weft/this_fiber.hpp"
