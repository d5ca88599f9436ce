// Evaluation keys: the SHA-256 that says "same inputs, same result", so that a result is never
// computed or recorded twice.
#pragma once

#include <string>

#include "common/status.h"

namespace tw {

// Key of a published result imported from `source` (timm): the model, the dataset and the eval
// config (image size, crop, interpolation) determine it; the file it came from does not, so a
// newer copy of the same numbers is recognised as the same evaluation.
StatusOr<std::string> ImportedEvaluationKey(const std::string& source, const std::string& model,
                                            const std::string& dataset,
                                            const std::string& eval_config_sha256);

}  // namespace tw
