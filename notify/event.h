// The flag event a webhook announces: a plain struct the daemon fills from a flag and its
// evaluations, and every renderer (render.h) reads. No behaviour here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tw::notify {

// One dataset variant that regressed or did not transfer, against the reference checkpoint.
struct VariantResult {
  std::string dataset;            // e.g. "imagenet-v2"
  std::string reference_dataset;  // the dataset it is paired with, e.g. "imagenet"
  double delta_points = 0;        // accuracy change in percentage points (negative = drop)
  double ci_low = 0;              // confidence interval of delta_points
  double ci_high = 0;
  double p_value = 1;  // paired test (McNemar)
  double p_holm = 1;   // Holm-adjusted over the variants of the flag group
  int64_t n = 0;       // paired examples
  int64_t discordant = 0;
};

struct FlagEvent {
  std::string event_type;  // "regression" | "no-transfer" | "eval-failed" | "test"
  std::string event_id;    // stable across retries ("msg_" + 26 chars), the webhook-id
  std::string checkpoint;  // RUN/FILE
  std::string run;
  std::optional<int64_t> step;
  std::string checkpoint_sha256;
  std::string reference_checkpoint;  // RUN/FILE of the checkpoint compared against
  std::string reference_kind;        // "previous" | "best" | "baseline"
  std::string reference_dataset;     // e.g. "imagenet"
  double reference_gain_points = 0, reference_ci_low = 0, reference_ci_high = 0, reference_p = 1;
  int64_t reference_n = 0;
  std::vector<VariantResult> variants;  // the regressed / non-transferring variants
  std::string cli_hint;                 // e.g. "transferwatch compare run/a.pt run/b.pt"
  std::string created_at;               // ISO-8601 UTC
  std::optional<std::string> error;     // eval-failed only
};

}  // namespace tw::notify
