// The random numbers of the demo tools: std::mt19937, whose output sequence the C++ standard
// fixes, and our own uniform, integer and normal draws on top of it. The standard library's
// distributions (std::normal_distribution, std::shuffle, ...) are implementation-defined, and
// the demo's datasets and training runs must be the same bytes wherever they are rebuilt.
//
// Thread safety: an Rng is a value; use one per thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace tw::demo {

class Rng {
 public:
  explicit Rng(uint32_t seed) : engine_(seed) {}

  // Uniform in [0, 1), 32 bits of resolution.
  double Uniform() { return static_cast<double>(engine_()) * (1.0 / 4294967296.0); }

  // Uniform in [low, high).
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }

  // Uniform integer in [0, n), unbiased (rejection of the engine's top partial range).
  // REQUIRES: n >= 1.
  uint32_t Below(uint32_t n) {
    const uint32_t limit = static_cast<uint32_t>(-n) % n;  // 2^32 mod n
    for (;;) {
      const uint32_t value = engine_();
      if (value >= limit) return value % n;
    }
  }

  // Standard normal (Box-Muller, one of the pair: simple and stateless).
  double Normal() {
    const double u1 = (static_cast<double>(engine_()) + 1.0) * (1.0 / 4294967296.0);  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Fisher-Yates shuffle.
  template <typename T>
  void Shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) {
      const size_t j = Below(static_cast<uint32_t>(i));
      std::swap(items[i - 1], items[j]);
    }
  }

 private:
  std::mt19937 engine_;
};

}  // namespace tw::demo
