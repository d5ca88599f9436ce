// A one-line progress display on stderr for terminals: "label  1,234/50,000  2.5%  51 img/s
// ETA 16:02". Redrawn at most ten times a second; nothing is printed when disabled.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tw::cli {

class ProgressLine {
 public:
  ProgressLine(std::string label, std::string unit, bool enabled);
  ~ProgressLine();
  // Thread-safe. `rate` < 0: computed from the time since construction.
  void Update(int64_t done, int64_t total, double rate = -1);
  // Clears the line.
  void Finish();

 private:
  std::string label_;
  std::string unit_;
  bool enabled_;
  bool drawn_ = false;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "1,234,567"
std::string WithThousands(int64_t value);

}  // namespace tw::cli
