#include "scoring/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>

namespace tw::scoring {
namespace {

// top5 is stored as int16, so class indices must fit.
constexpr int kMaxModelClasses = 32767;

// Edge b of the ECE bins as the double nearest b/15: the same expression for every caller, so
// a confidence that equals an edge (e.g. 1/3.0 == 5/15.0) lands on the documented side.
double BinEdge(int b) { return static_cast<double>(b) / kEceBins; }

// Indices of the (up to) five largest logits among `active` (ascending class indices), best
// first; -1 pads. Scanning in ascending index order and inserting only on a strictly larger
// logit makes the earlier (lower) index win every tie.
std::array<int16_t, 5> TopFive(const float* logits, const std::vector<int>& active) {
  std::array<int16_t, 5> top;
  top.fill(-1);
  int size = 0;
  for (int c : active) {
    const float v = logits[c];
    int pos = size;
    while (pos > 0 && v > logits[top[pos - 1]]) --pos;
    if (pos >= 5) continue;
    const int last = std::min(size, 4);
    for (int i = last; i > pos; --i) top[i] = top[i - 1];
    top[pos] = static_cast<int16_t>(c);
    size = std::min(size + 1, 5);
  }
  return top;
}

}  // namespace

Status ValidateProtocol(const Protocol& protocol) {
  if (protocol.model_classes < 1 || protocol.model_classes > kMaxModelClasses) {
    return InvalidArgumentError("protocol: model_classes must be in [1, " +
                                std::to_string(kMaxModelClasses) + "], got " +
                                std::to_string(protocol.model_classes));
  }
  if (protocol.subset.empty()) return OkStatus();
  if (protocol.subset.size() < 5) {
    return InvalidArgumentError("protocol: a class subset needs at least 5 classes (top-5), got " +
                                std::to_string(protocol.subset.size()));
  }
  std::vector<bool> seen(protocol.model_classes, false);
  for (int c : protocol.subset) {
    if (c < 0 || c >= protocol.model_classes) {
      return InvalidArgumentError("protocol: subset class " + std::to_string(c) +
                                  " is outside [0, " + std::to_string(protocol.model_classes) +
                                  ")");
    }
    if (seen[c]) {
      return InvalidArgumentError("protocol: subset class " + std::to_string(c) +
                                  " is listed twice");
    }
    seen[c] = true;
  }
  return OkStatus();
}

int EceBin(double confidence) {
  if (!(confidence > 0)) return 0;
  if (confidence > 1) return kEceBins - 1;
  // ceil(x * 15) - 1 is right except within rounding of an edge; the comparisons against the
  // edges themselves settle it, so the (lo, hi] contract holds exactly.
  int b = static_cast<int>(std::ceil(confidence * kEceBins)) - 1;
  b = std::clamp(b, 0, kEceBins - 1);
  while (b > 0 && confidence <= BinEdge(b)) --b;
  while (b < kEceBins - 1 && confidence > BinEdge(b + 1)) ++b;
  return b;
}

Accumulator::Accumulator(Protocol protocol)
    : protocol_(std::move(protocol)), protocol_status_(ValidateProtocol(protocol_)) {
  if (!protocol_status_.ok()) return;
  const int k = protocol_.model_classes;
  if (protocol_.subset.empty()) {
    active_.resize(k);
    for (int c = 0; c < k; ++c) active_[c] = c;
    in_subset_.assign(k, true);
  } else {
    // Sorted so that the softmax sum runs in one canonical order whatever order the subset
    // list was written in.
    active_ = protocol_.subset;
    std::sort(active_.begin(), active_.end());
    in_subset_.assign(k, false);
    for (int c : active_) in_subset_[c] = true;
  }
  if (!protocol_.multi_label) {
    class_count_.assign(k, 0);
    class_correct_.assign(k, 0);
  }
}

StatusOr<SampleRecord> Accumulator::Add(const float* logits, const std::vector<int>& labels) {
  const int64_t sample = next_sample_index_++;
  const std::string where = "sample " + std::to_string(sample);
  if (!protocol_status_.ok()) return protocol_status_;
  if (logits == nullptr) return InvalidArgumentError(where + ": null logits");

  const int k = protocol_.model_classes;
  if (!protocol_.multi_label && labels.size() != 1) {
    return InvalidArgumentError(where + ": single-label protocol needs exactly one label, got " +
                                std::to_string(labels.size()));
  }
  for (int label : labels) {
    if (label < 0 || label >= k) {
      return InvalidArgumentError(where + ": label " + std::to_string(label) + " is outside [0, " +
                                  std::to_string(k) + ")");
    }
    if (!in_subset_[label]) {
      return InvalidArgumentError(where + ": label " + std::to_string(label) +
                                  " is not in the protocol's class subset");
    }
  }
  for (int c : active_) {
    if (!std::isfinite(logits[c])) {
      return DataLossError(where + ": non-finite logits (class " + std::to_string(c) + " is " +
                           std::to_string(logits[c]) + ")");
    }
  }

  SampleRecord record;
  record.top5 = TopFive(logits, active_);

  if (protocol_.multi_label) {
    if (labels.empty()) {
      record.excluded = true;
      ++excluded_;
      return record;
    }
    auto in_labels = [&](int16_t c) {
      return c >= 0 && std::find(labels.begin(), labels.end(), c) != labels.end();
    };
    record.correct = in_labels(record.top5[0]);
    record.correct5 = std::any_of(record.top5.begin(), record.top5.end(), in_labels);
    ++n_;
    correct1_ += record.correct;
    correct5_ += record.correct5;
    return record;
  }

  const int label = labels[0];
  record.correct = record.top5[0] == label;
  record.correct5 = std::find(record.top5.begin(), record.top5.end(), label) != record.top5.end();

  // Max-subtraction keeps exp() in range for any finite float logits; the maximum's term is
  // exp(0) = 1, so the sum is >= 1, the max probability is 1/sum <= 1, and log(sum) is finite.
  const double max_logit = logits[record.top5[0]];
  double sum = 0;
  for (int c : active_) sum += std::exp(static_cast<double>(logits[c]) - max_logit);
  const double log_prob = (static_cast<double>(logits[label]) - max_logit) - std::log(sum);
  const double confidence = 1.0 / sum;
  record.true_prob = static_cast<float>(std::exp(log_prob));

  ++n_;
  correct1_ += record.correct;
  correct5_ += record.correct5;
  nll_sum_ += -log_prob;
  const int bin = EceBin(confidence);
  ++bin_count_[bin];
  bin_correct_[bin] += record.correct;
  bin_confidence_sum_[bin] += confidence;
  ++class_count_[label];
  class_correct_[label] += record.correct;
  return record;
}

Metrics Accumulator::Finish() const {
  Metrics m;
  m.n = n_;
  m.excluded = excluded_;
  if (n_ > 0) {
    m.top1 = 100.0 * static_cast<double>(correct1_) / static_cast<double>(n_);
    m.top5 = 100.0 * static_cast<double>(correct5_) / static_cast<double>(n_);
  }
  if (protocol_.multi_label || !protocol_status_.ok()) return m;
  if (n_ > 0) {
    m.nll = nll_sum_ / static_cast<double>(n_);
    double ece = 0;
    for (int b = 0; b < kEceBins; ++b) {
      ece += std::fabs(static_cast<double>(bin_correct_[b]) - bin_confidence_sum_[b]);
    }
    m.ece = ece / static_cast<double>(n_);
  }
  m.per_class_accuracy.resize(class_count_.size());
  for (size_t c = 0; c < class_count_.size(); ++c) {
    if (class_count_[c] == 0) continue;
    m.per_class_accuracy[c] =
        100.0 * static_cast<double>(class_correct_[c]) / static_cast<double>(class_count_[c]);
  }
  return m;
}

}  // namespace tw::scoring
