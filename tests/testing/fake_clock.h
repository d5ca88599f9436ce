// A Clock that moves only when a test says so. Thread-safe.
#pragma once

#include <mutex>

#include "common/clock.h"

namespace tw::testing {

class FakeClock : public Clock {
 public:
  FakeClock() : steady_(std::chrono::hours(1000)), wall_(std::chrono::hours(24 * 365 * 56)) {}
  SteadyTime Now() override {
    std::lock_guard<std::mutex> lock(mu_);
    return steady_;
  }
  WallTime WallNow() override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  template <typename Duration>
  void Advance(Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    steady_ += std::chrono::duration_cast<SteadyTime::duration>(d);
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  }

 private:
  std::mutex mu_;
  SteadyTime steady_;
  WallTime wall_;
};

}  // namespace tw::testing
