#include "scoring/rescore.h"

#include <algorithm>
#include <string>

namespace tw::scoring {
namespace {

// The classes that compete, ascending; empty means all of them.
std::vector<int> Competing(const Protocol& protocol) {
  std::vector<int> classes = protocol.subset;
  std::sort(classes.begin(), classes.end());
  return classes;
}

std::string Describe(const Protocol& protocol) {
  return protocol.subset.empty()
             ? "all " + std::to_string(protocol.model_classes) + " classes"
             : "a subset of " + std::to_string(protocol.subset.size()) + " classes";
}

// A record the evaluator wrote for an image it could not use: excluded, with no top five.
bool IsBadImage(const SampleRecord& record) { return record.excluded && record.top5[0] < 0; }

}  // namespace

Status CheckRescorable(const Protocol& source, const Protocol& target) {
  if (source.model_classes != target.model_classes) {
    return FailedPreconditionError(
        "the stored predictions rank " + std::to_string(source.model_classes) +
        " model classes, the dataset has " + std::to_string(target.model_classes));
  }
  if (!target.multi_label) {
    return FailedPreconditionError(
        "only multi-label protocols (ImageNet-ReaL) can be rescored: a single-label result "
        "needs NLL, ECE and each image's true-class probability, which need the softmax over "
        "all classes, and the stored records keep only the top-5 classes");
  }
  if (Competing(source) != Competing(target)) {
    return FailedPreconditionError(
        "the stored top-5 ranks " + Describe(source) + " and the dataset scores " +
        Describe(target) + "; restricting the classes needs the logits, which are not stored");
  }
  return OkStatus();
}

StatusOr<Rescored> RescoreMultiLabel(const std::vector<SampleRecord>& records,
                                     const std::vector<std::vector<int>>& labels,
                                     const Protocol& target) {
  TW_RETURN_IF_ERROR(ValidateProtocol(target));
  if (!target.multi_label) {
    return InvalidArgumentError("RescoreMultiLabel needs a multi-label protocol");
  }
  if (records.size() != labels.size()) {
    return InvalidArgumentError(std::to_string(records.size()) + " records for " +
                                std::to_string(labels.size()) + " label sets");
  }
  std::vector<bool> in_subset(target.model_classes, target.subset.empty());
  for (int c : target.subset) in_subset[c] = true;

  Rescored out;
  out.records.reserve(records.size());
  int64_t correct1 = 0, correct5 = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    for (int label : labels[i]) {
      if (label < 0 || label >= target.model_classes || !in_subset[label]) {
        return InvalidArgumentError("sample " + std::to_string(i) + ": label " +
                                    std::to_string(label) +
                                    " is not one of the protocol's classes");
      }
    }
    const SampleRecord& source = records[i];
    if (IsBadImage(source)) {
      out.records.push_back(source);
      ++out.bad_images;
      continue;
    }
    // What Accumulator::Add records for a multi-label sample: the same top five, correct if a
    // prediction is in the set, no probability; an empty set excludes the sample.
    SampleRecord record;
    record.top5 = source.top5;
    if (labels[i].empty()) {
      record.excluded = true;
      ++out.metrics.excluded;
      out.records.push_back(record);
      continue;
    }
    auto in_labels = [&](int16_t c) {
      return c >= 0 && std::find(labels[i].begin(), labels[i].end(), c) != labels[i].end();
    };
    record.correct = in_labels(record.top5[0]);
    record.correct5 = std::any_of(record.top5.begin(), record.top5.end(), in_labels);
    ++out.metrics.n;
    correct1 += record.correct;
    correct5 += record.correct5;
    out.records.push_back(record);
  }
  // The same expressions as Accumulator::Finish, so the numbers agree bit for bit.
  if (out.metrics.n > 0) {
    out.metrics.top1 = 100.0 * static_cast<double>(correct1) / static_cast<double>(out.metrics.n);
    out.metrics.top5 = 100.0 * static_cast<double>(correct5) / static_cast<double>(out.metrics.n);
  }
  return out;
}

}  // namespace tw::scoring
