// The clock seam: code that waits, times out or schedules takes a Clock&, so tests drive time
// by hand (FakeClock in tests/testing/fake_clock.h) instead of sleeping. Only main files pass
// RealClock().
#pragma once

#include <chrono>

namespace tw {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for intervals, deadlines and settle windows.
  virtual SteadyTime Now() = 0;
  // Calendar time, for what is recorded and shown.
  virtual WallTime WallNow() = 0;
};

// The process's real clocks. Thread-safe.
Clock& RealClock();

}  // namespace tw
