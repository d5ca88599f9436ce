#include "store/evaluation_key.h"

#include <nlohmann/json.hpp>

#include "common/canonical_json.h"

namespace tw {

StatusOr<std::string> ImportedEvaluationKey(const std::string& source, const std::string& model,
                                            const std::string& dataset,
                                            const std::string& eval_config_sha256) {
  nlohmann::json parts = {{"kind", "import"},
                          {"source", source},
                          {"model", model},
                          {"dataset", dataset},
                          {"eval_config", eval_config_sha256}};
  TW_ASSIGN_OR_RETURN(HashedJson hashed, HashCanonicalJson(parts));
  return hashed.sha256;
}

}  // namespace tw
