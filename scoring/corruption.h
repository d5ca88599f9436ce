// ImageNet-C style corruption suites: the AlexNet normalisation table and the CE / mCE /
// relative mCE summary of Hendrycks & Dietterich 2019. Pure computation, no I/O.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tw::scoring {

// AlexNet's top-1 errors as fractions (0..1].
struct AlexNetErrors {
  std::map<std::string, double> mean_error;  // Per corruption, mean over severities 1..5.
  std::optional<double> clean_error;         // The row named "clean", when present.
};

// Parses data/imagenet/imagenet_c_alexnet_errors.tsv's format: lines starting with '#' are
// comments; every other line is "name<TAB>family<TAB>error" (LF or CRLF endings; a final line
// may lack its newline); name and family match [a-z0-9_]+; error is a plain decimal in (0, 1].
// The row named "clean" is the clean error; the others form mean_error. Errors are
// InvalidArgument "source_name:line: reason" (1-based lines): a wrong field count, a bad name or
// family, a bad error value, a repeated name, a corruption error not above the clean error
// (relative CE would divide by <= 0), no corruption rows at all.
StatusOr<AlexNetErrors> ParseAlexNetTable(std::string_view tsv_text, std::string_view source_name);

struct SubsetResult {
  std::string corruption;  // [a-z0-9_]+, e.g. "gaussian_noise".
  int severity = 0;        // 1..5.
  double top1 = 0;         // Percent, 0..100.
};

struct CorruptionSummary {
  std::vector<SubsetResult> subsets;  // Sorted by corruption, then severity.
  // Per corruption present in `subsets`: CE_c = mean over severities 1..5 of the error
  // (100 - top1) / 100, divided by AlexNet's mean error. nullopt when the corruption is not in
  // the table or lacks any of the five severities (the table averages all five, so a partial
  // mean would not be comparable).
  std::map<std::string, std::optional<double>> ce;
  // Mean of the non-null CEs; nullopt if there are none. Only comparable across models that
  // cover the same corruptions (the standard mCE uses the 15 in the table).
  std::optional<double> mce;
  // Mean over the corruptions with a non-null CE of the relative CE
  //   (mean_s E_s,c - E_clean) / (AlexNet_c - AlexNet_clean),
  // the paper's sum-over-severities ratio with both sums divided by five, since the table keeps
  // only AlexNet's mean per corruption. nullopt without clean_top1, without the table's clean
  // row, or when no CE is non-null.
  std::optional<double> relative_mce;
};

// Validates the subsets (severity 1..5, no repeated (corruption, severity), names [a-z0-9_]+,
// top1 finite in [0, 100]) and clean_top1 (finite in [0, 100]) and the table entries used
// (finite, in (0, 1], corruption error above the clean error), returning InvalidArgument naming
// the offending entry; then computes the summary above. No subsets give an empty summary.
StatusOr<CorruptionSummary> SummarizeCorruption(std::vector<SubsetResult> subsets,
                                                const AlexNetErrors& table,
                                                std::optional<double> clean_top1);

}  // namespace tw::scoring
