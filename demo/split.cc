#include "demo/split.h"

#include <numeric>
#include <string>

#include "demo/rng.h"

namespace tw::demo {

StatusOr<Split> SplitIndices(int count, int train, int test, uint32_t seed) {
  if (train < 1 || test < 1) {
    return InvalidArgumentError(
        "the training and held-out splits need at least 1 digit each (got " +
        std::to_string(train) + " and " + std::to_string(test) + ")");
  }
  if (static_cast<int64_t>(train) + test > count) {
    return InvalidArgumentError(std::to_string(train) + " training + " + std::to_string(test) +
                                " held-out digits is more than the " + std::to_string(count) +
                                " there are");
  }
  std::vector<int> order(count);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  rng.Shuffle(order);
  Split split;
  split.train.assign(order.begin(), order.begin() + train);
  split.test.assign(order.begin() + train, order.begin() + train + test);
  return split;
}

StatusOr<std::vector<int>> TakePerClass(const std::vector<int>& indices,
                                        const std::vector<int>& labels, int classes,
                                        int per_class) {
  if (per_class < 1) {
    return InvalidArgumentError("need at least 1 digit per class (got " +
                                std::to_string(per_class) + ")");
  }
  std::vector<std::vector<int>> by_class(classes);
  for (int index : indices) {
    if (index < 0 || static_cast<size_t>(index) >= labels.size()) {
      return InvalidArgumentError("index " + std::to_string(index) + " has no label");
    }
    const int label = labels[index];
    if (label >= 0 && label < classes && static_cast<int>(by_class[label].size()) < per_class) {
      by_class[label].push_back(index);
    }
  }
  std::vector<int> out;
  for (int c = 0; c < classes; ++c) {
    if (static_cast<int>(by_class[c].size()) < per_class) {
      return InvalidArgumentError("class " + std::to_string(c) + " has only " +
                                  std::to_string(by_class[c].size()) + " held-out digits; " +
                                  std::to_string(per_class) + " per class were asked for");
    }
    out.insert(out.end(), by_class[c].begin(), by_class[c].end());
  }
  return out;
}

}  // namespace tw::demo
