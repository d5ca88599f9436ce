#include "cli/progress.h"

#include <cstdio>

namespace tw::cli {

std::string WithThousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

ProgressLine::ProgressLine(std::string label, std::string unit, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()) {}

ProgressLine::~ProgressLine() { Finish(); }

void ProgressLine::Update(int64_t done, int64_t total, double rate) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  if (rate < 0) rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::string line = "\r\033[K" + label_ + "  " + WithThousands(done) + "/" + WithThousands(total);
  char buf[128];
  if (total > 0) {
    std::snprintf(buf, sizeof(buf), "  %.1f%%", 100.0 * static_cast<double>(done) / total);
    line += buf;
  }
  if (rate > 0) {
    std::snprintf(buf, sizeof(buf), "  %.1f %s/s", rate, unit_.c_str());
    line += buf;
    if (total > done) {
      auto eta = static_cast<int64_t>(static_cast<double>(total - done) / rate);
      std::snprintf(buf, sizeof(buf), "  ETA %lld:%02lld", static_cast<long long>(eta / 60),
                    static_cast<long long>(eta % 60));
      line += buf;
    }
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (enabled_ && drawn_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace tw::cli
