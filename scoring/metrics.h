// Scores plain float logits into the metrics TransferWatch records for one dataset protocol,
// plus a SampleRecord per image. Several datasets that share image files (ImageNet val, ReaL,
// the A-clean and R-clean subsets) are scored from one forward pass: each has its own
// Accumulator and sees the same logits row, which it reads and never changes.
//
// Numerics: softmax and log-softmax in double with max-subtraction. Argmax and top-5 order by
// descending logit; equal logits rank the LOWER class index first, so predictions never depend
// on sort stability or the library. Sums run in sample (Add) order: the same samples in the
// same order give the same Metrics bit for bit on the same machine.
//
// No I/O; does not depend on LibTorch (the evaluator converts tensors to float rows).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/status.h"
#include "scoring/records.h"

namespace tw::scoring {

struct Protocol {
  int model_classes = 1000;  // Width of the logits row.
  // When non-empty, only these model class indices compete (ImageNet-A/R: 200 classes): top-k,
  // softmax, NLL and ECE use the restricted logits. The order given does not matter.
  std::vector<int> subset;
  // ImageNet-ReaL: a sample's label is a set; a prediction is correct if it is in the set; an
  // empty set excludes the sample.
  bool multi_label = false;
};

// OK, or InvalidArgument naming the problem: model_classes outside [1, 32767] (top5 is stored
// as int16), a subset index out of range or repeated, a non-empty subset with fewer than five
// entries (top-5 needs five).
Status ValidateProtocol(const Protocol& protocol);

inline constexpr int kEceBins = 15;

// The ECE bin of a confidence in (0, 1]: bin b covers (b/15, (b+1)/15] (Guo et al. 2017), the
// edges being the doubles nearest b/15, so 0.6 falls in bin 8, (0.5333, 0.6]. Values <= 0 go to
// bin 0 and values > 1 to bin 14; softmax never produces either.
int EceBin(double confidence);

struct Metrics {
  int64_t n = 0;         // Samples counted (excluded ones are not).
  int64_t excluded = 0;  // Multi-label samples with an empty label set.
  double top1 = 0;       // Percent (0..100), as timm reports; 0 when n == 0.
  double top5 = 0;       // Percent; multi-label: any of the top five is in the label set.
  // Mean -log p(true class), natural log; nullopt for multi-label or when n == 0.
  std::optional<double> nll;
  // Expected calibration error as a fraction (0..1): 15 equal-width bins over (0, 1] (EceBin),
  // confidence = max softmax probability, accuracy = top-1 correct;
  // ECE = sum over bins of |correct_b - sum of confidences_b| / n. nullopt as for nll.
  std::optional<double> ece;
  // Single-label: index = model class, top-1 accuracy in percent; nullopt where the class has
  // no samples (always so outside the subset). Empty for multi-label.
  std::vector<std::optional<double>> per_class_accuracy;
};

// Accumulates one (dataset, protocol). Not thread-safe; use one per thread or serialise.
class Accumulator {
 public:
  // An invalid protocol (see ValidateProtocol) is not fatal here: every Add then fails with
  // ValidateProtocol's error, so callers can validate once up front or learn on first use.
  explicit Accumulator(Protocol protocol);

  // Scores one sample. `logits` points at protocol.model_classes floats. `labels` are model
  // class indices: exactly one for single-label protocols; any number for multi-label (treated
  // as a set; empty = excluded: the record says so and no metric counts it). Labels must lie in
  // [0, model_classes) and inside the subset when there is one. The record's top5 is filled
  // even for excluded samples.
  // Errors (and the sample is not counted): InvalidArgument for a null `logits`, a bad label,
  // or not exactly one label for single-label; DataLoss "sample N: non-finite logits ..." when
  // a logit that competes is NaN or +-inf. N is the 0-based index of this call among all Add
  // calls, failed ones included, so it matches the caller's row position.
  StatusOr<SampleRecord> Add(const float* logits, const std::vector<int>& labels);

  // The metrics over the samples added so far; may be called any number of times.
  Metrics Finish() const;

 private:
  Protocol protocol_;
  Status protocol_status_;
  std::vector<int> active_;        // Competing class indices, ascending.
  std::vector<bool> in_subset_;    // By model class: does it compete?
  int64_t next_sample_index_ = 0;  // Counts every Add call.
  int64_t n_ = 0;
  int64_t excluded_ = 0;
  int64_t correct1_ = 0;
  int64_t correct5_ = 0;
  double nll_sum_ = 0;  // Single-label only.
  int64_t bin_count_[kEceBins] = {};
  int64_t bin_correct_[kEceBins] = {};
  double bin_confidence_sum_[kEceBins] = {};
  std::vector<int64_t> class_count_;  // Single-label only.
  std::vector<int64_t> class_correct_;
};

}  // namespace tw::scoring
