// Re-scoring stored per-sample records under another label set, without the model: the records
// of one evaluation (scoring/records.h) scored with the labels of a dataset that shares its
// images (ImageNet-ReaL on ImageNet val). Pure functions, no I/O.
//
// A record keeps the top-5 classes among the source protocol's competing classes, the
// correct flags and the true class's probability; it does not keep the logits. That settles
// what can be re-scored exactly, i.e. into the very records and metrics an Accumulator fed the
// logits would produce:
//   - multi-label targets (ReaL) whose competing classes are the source's: top-1 and top-5 are
//     read off the stored top five; the protocol has no NLL, ECE or per-class accuracy.
// and what cannot:
//   - single-label targets: NLL, ECE and the per-sample true-class probability need softmax
//     probabilities of classes the records do not keep;
//   - a class subset the source did not have (or the reverse): the best class of a restricted
//     set is not always among the unrestricted top five, and the reverse is not recorded at all.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "scoring/metrics.h"
#include "scoring/records.h"

namespace tw::scoring {

// OK when records made under `source` can be re-scored exactly under `target`; otherwise
// FailedPrecondition saying which rule above refuses it.
Status CheckRescorable(const Protocol& source, const Protocol& target);

struct Rescored {
  std::vector<SampleRecord> records;  // one per target sample, in the order given
  Metrics metrics;                    // as Accumulator::Finish would report them
  int64_t bad_images = 0;  // source records of unusable images (excluded, no top five), kept so
};

// Scores `records[i]` (the source record of the target's sample i) with `labels[i]` under
// `target`, which must be multi-label (CheckRescorable). A source record of an unusable image
// (`--skip-bad-images`: excluded with no top five) stays excluded and is counted in bad_images,
// as the evaluator does. InvalidArgument for mismatched lengths or an invalid protocol, and
// "sample N: label ..." for a label outside the model's classes or the subset.
StatusOr<Rescored> RescoreMultiLabel(const std::vector<SampleRecord>& records,
                                     const std::vector<std::vector<int>>& labels,
                                     const Protocol& target);

}  // namespace tw::scoring
