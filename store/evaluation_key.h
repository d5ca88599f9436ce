// Evaluation keys: the SHA-256 that says "same inputs, same result", so that a result is never
// computed or recorded twice.
#pragma once

#include <string>

#include "common/status.h"

namespace tw {

// Key of a published result imported from `source` (timm): the model, the dataset and the image
// size determine it, as timm names its entries (MODEL@IMG_SIZE). The file it came from and the
// crop/interpolation it reports do not: a newer snapshot that changes those is the same entry
// with other numbers (`import --update` replaces them), never a second pool entry.
StatusOr<std::string> ImportedEvaluationKey(const std::string& source, const std::string& model,
                                            const std::string& dataset, int img_size);

}  // namespace tw
