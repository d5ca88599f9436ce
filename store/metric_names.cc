#include "store/metric_names.h"

#include <string>

namespace tw {

Status ValidateMetricName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] >= 'a' && name[0] <= 'z';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!ok) {
    return InvalidArgumentError("invalid metric name \"" + std::string(name) +
                                "\": expected top1, top5 or a lowercase metric key such as nll");
  }
  return OkStatus();
}

bool LowerIsBetter(std::string_view name) {
  static constexpr std::string_view kLowerBetter[] = {"nll",  "ece",   "mce",      "ce",
                                                      "loss", "error", "top1_err", "top5_err"};
  for (auto n : kLowerBetter) {
    if (name == n) return true;
  }
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("_err") || ends_with("_error") || ends_with("_loss");
}

}  // namespace tw
