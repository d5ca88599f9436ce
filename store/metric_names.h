// Names of evaluation metrics, and which way is better.
#pragma once

#include <string_view>

#include "common/status.h"

namespace tw {

// top1 and top5 are columns; every other metric is a key of the `metrics` JSON object.
// Names are lowercase words: [a-z][a-z0-9_]{0,63}.
Status ValidateMetricName(std::string_view name);

// Errors and losses (nll, ece, mce, top1_err...) are better when lower; accuracies when higher.
bool LowerIsBetter(std::string_view name);

}  // namespace tw
