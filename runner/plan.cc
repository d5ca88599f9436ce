#include "runner/plan.h"

namespace tw::runner {

StatusOr<PlannedDataset> PlanDataset(Store& store, const std::string& dataset,
                                     const ConfigCustomizer& customize) {
  PlannedDataset p;
  p.dataset = dataset;
  TW_ASSIGN_OR_RETURN(p.version, store.GetDatasetVersion(dataset));
  TW_ASSIGN_OR_RETURN(DatasetInfo info, store.GetDataset(dataset));
  p.suite = info.protocol_json.find("corruption-suite") != std::string::npos;
  p.reference = info.reference;
  TW_RETURN_IF_ERROR(ApplyEvalConfigJson(p.version.default_config_json, &p.config)
                         .WithContext("dataset " + dataset + "'s default config"));
  if (customize) TW_RETURN_IF_ERROR(customize(&p.config));
  NormalizeEvalConfig(/*resize_and_crop=*/!p.suite, &p.config);
  TW_RETURN_IF_ERROR(ValidateEvalConfig(p.config).WithContext("eval config for " + dataset));
  TW_ASSIGN_OR_RETURN(p.config_hash, HashEvalConfig(p.config));
  return p;
}

ConfigCustomizer OverridesFromJson(std::string overrides_json) {
  return [json = std::move(overrides_json)](EvalConfig* config) -> Status {
    if (json.empty() || json == "{}") return OkStatus();
    return ApplyEvalConfigJson(json, config);
  };
}

StatusOr<std::string> EvaluationKeyFor(const PlannedDataset& planned,
                                       const std::string& checkpoint_sha256,
                                       const std::optional<std::string>& arch_sha256,
                                       const std::string& evaluator_version) {
  return EvaluatorEvaluationKey(checkpoint_sha256, arch_sha256, planned.dataset,
                                planned.version.manifest_sha256, planned.config_hash.sha256,
                                evaluator_version);
}

}  // namespace tw::runner
