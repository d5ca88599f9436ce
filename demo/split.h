// Splitting the demo's digits into a training split and a disjoint held-out split, and taking a
// small per-class subset of the held-out split (the corruption suite's images).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace tw::demo {

struct Split {
  std::vector<int> train;  // Indices into the digits, in shuffled order.
  std::vector<int> test;   // Disjoint from train.
};

// Shuffles 0..count-1 with Rng(seed) and takes the first `train` as the training split and the
// next `test` as the held-out split. InvalidArgument when train < 1, test < 1 or
// train + test > count.
StatusOr<Split> SplitIndices(int count, int train, int test, uint32_t seed);

// The first `per_class` indices of each class 0..classes-1, in the order of `indices`, grouped by
// class. labels[i] is the class of index i. InvalidArgument naming the class when one has fewer
// than `per_class`, or when per_class < 1.
StatusOr<std::vector<int>> TakePerClass(const std::vector<int>& indices,
                                        const std::vector<int>& labels, int classes, int per_class);

}  // namespace tw::demo
