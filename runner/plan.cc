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

StatusOr<RekeyResult> RekeyJobs(JobQueue& queue, const std::vector<JobState>& states,
                                const std::optional<std::string>& dataset,
                                const std::string& evaluator_version, int max_attempts,
                                bool cancel_replaced) {
  RekeyResult result;
  JobFilter filter;
  filter.states = states;
  filter.dataset = dataset;
  filter.other_evaluator_than = evaluator_version;
  filter.limit = 1000000;
  TW_ASSIGN_OR_RETURN(std::vector<JobInfo> old_jobs, queue.ListJobs(filter));
  std::vector<NewJob> jobs;
  for (const JobInfo& old : old_jobs) {
    NewJob job;
    TW_ASSIGN_OR_RETURN(
        job.evaluation_key,
        EvaluatorEvaluationKey(old.checkpoint_sha256, old.arch_sha256, old.dataset,
                               old.manifest_sha256, old.eval_config_sha256, evaluator_version));
    job.checkpoint_id = old.checkpoint_id;
    job.dataset_version_id = old.dataset_version_id;
    job.eval_config = old.eval_config;
    job.arch_sha256 = old.arch_sha256;
    job.evaluator_version = evaluator_version;
    job.priority = old.priority;
    job.max_attempts = max_attempts;
    jobs.push_back(std::move(job));
  }
  TW_ASSIGN_OR_RETURN(EnqueueResult enqueued, queue.EnqueueJobs(jobs));
  result.queued = enqueued.queued;
  result.already_queued = enqueued.already_queued;
  result.already_recorded = enqueued.already_recorded;
  if (cancel_replaced) {
    for (const JobInfo& old : old_jobs) {
      if (old.state != JobState::kPending) continue;
      JobFilter one;
      one.job_id = old.id;
      one.states = {JobState::kPending};
      TW_ASSIGN_OR_RETURN(int n, queue.CancelJobs(one));
      result.cancelled += n;
    }
  }
  return result;
}

}  // namespace tw::runner
