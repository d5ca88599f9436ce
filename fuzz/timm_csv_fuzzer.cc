// The timm importer (importer/timm_import): a published results CSV, read from a folder as
// `transferwatch import timm DIR` does, into the batch that would be written to the store.
//
// Invariants: a bad file is InvalidArgument naming the file and a line; an accepted one gives one
// evaluation per row with accuracies in percent (top-5 >= top-1), evaluation keys and config
// hashes that are SHA-256s, configs, models and datasets whose JSON is canonical, and one model
// entry per model name.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common/canonical_json.h"
#include "common/sha256.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_temp_dir.h"
#include "importer/timm_import.h"

namespace {

bool IsCanonical(const std::string& text) {
  auto parsed = tw::ParseJson(text, "stored");
  if (!parsed.ok()) return false;
  auto canonical = tw::CanonicalJson(*parsed);
  return canonical.ok() && *canonical == text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = tw_fuzz::TempDir();
  const std::string path = dir + "/results-imagenet.csv";
  tw_fuzz::WriteFile(path, std::string_view(reinterpret_cast<const char*>(data), size));

  auto plan = tw::ReadTimmResults(dir);
  if (!plan.ok()) {
    TW_FUZZ_CHECK(plan.status().code() == tw::StatusCode::kInvalidArgument,
                  "a bad results file is InvalidArgument");
    TW_FUZZ_CHECK(plan.status().message().rfind(path, 0) == 0, "the error names the file");
    return 0;
  }
  TW_FUZZ_CHECK(plan->files.size() == 1, "one file read");
  TW_FUZZ_CHECK(plan->files[0].rows == static_cast<int>(plan->batch.evaluations.size()),
                "one evaluation per row");
  std::set<std::string> keys;
  for (const auto& e : plan->batch.evaluations) {
    TW_FUZZ_CHECK(e.top5.has_value(), "timm rows have a top-5");
    TW_FUZZ_CHECK(e.top1 >= 0 && e.top1 <= 100 && *e.top5 >= e.top1 && *e.top5 <= 100,
                  "accuracies in percent, top-5 >= top-1");
    TW_FUZZ_CHECK(tw::IsSha256Hex(e.evaluation_key) && keys.insert(e.evaluation_key).second,
                  "unique evaluation keys");
    TW_FUZZ_CHECK(tw::IsSha256Hex(e.eval_config_sha256), "config hashes");
    TW_FUZZ_CHECK(IsCanonical(e.provenance_json), "canonical provenance");
  }
  std::set<std::string> models;
  for (const auto& m : plan->batch.models) {
    TW_FUZZ_CHECK(models.insert(m.name).second, "one entry per model");
    TW_FUZZ_CHECK(IsCanonical(m.metadata_json), "canonical model metadata");
  }
  for (const auto& c : plan->batch.eval_configs) {
    TW_FUZZ_CHECK(IsCanonical(c.canonical), "canonical eval configs");
  }
  for (const auto& d : plan->batch.datasets) {
    TW_FUZZ_CHECK(IsCanonical(d.protocol_json), "canonical dataset protocols");
  }
  return 0;
}
