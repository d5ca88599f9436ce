#include "store/evaluation_key.h"

#include <nlohmann/json.hpp>

#include "common/canonical_json.h"

namespace tw {

StatusOr<std::string> ImportedEvaluationKey(const std::string& source, const std::string& model,
                                            const std::string& dataset, int img_size) {
  nlohmann::json parts = {{"kind", "import"},
                          {"source", source},
                          {"model", model},
                          {"dataset", dataset},
                          {"img_size", img_size}};
  TW_ASSIGN_OR_RETURN(HashedJson hashed, HashCanonicalJson(parts));
  return hashed.sha256;
}

}  // namespace tw
