#include "scoring/corruption.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "common/numbers.h"

namespace tw::scoring {
namespace {

constexpr int kSeverities = 5;

bool IsName(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

bool IsErrorFraction(double e) { return std::isfinite(e) && e > 0 && e <= 1; }

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

StatusOr<AlexNetErrors> ParseAlexNetTable(std::string_view tsv_text, std::string_view source_name) {
  AlexNetErrors table;
  std::map<std::string, int> first_line;  // For "repeated name" and ordering-free checks.
  int line_no = 0;
  size_t pos = 0;
  while (pos < tsv_text.size()) {
    ++line_no;
    size_t end = tsv_text.find('\n', pos);
    if (end == std::string_view::npos) end = tsv_text.size();
    std::string_view line = tsv_text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '#') continue;

    auto error = [&](const std::string& reason) {
      return InvalidArgumentError(std::string(source_name) + ":" + std::to_string(line_no) + ": " +
                                  reason);
    };
    const std::vector<std::string_view> fields = SplitTabs(line);
    if (fields.size() != 3) {
      return error("expected 3 tab-separated fields (name, family, error), got " +
                   std::to_string(fields.size()));
    }
    if (!IsName(fields[0])) return error("bad corruption name " + Quote(fields[0]));
    if (!IsName(fields[1])) return error("bad family " + Quote(fields[1]));
    StatusOr<double> value = ParseDecimal(fields[2]);
    if (!value.ok()) return error(value.status().message());
    if (!IsErrorFraction(*value)) {
      return error("error " + Quote(fields[2]) + " is not a fraction in (0, 1]");
    }
    const std::string name(fields[0]);
    if (!first_line.emplace(name, line_no).second) {
      return error("repeated name " + Quote(name) + " (first on line " +
                   std::to_string(first_line[name]) + ")");
    }
    if (name == "clean") {
      table.clean_error = *value;
    } else {
      table.mean_error[name] = *value;
    }
  }
  if (table.mean_error.empty()) {
    return InvalidArgumentError(std::string(source_name) + ": no corruption rows");
  }
  if (table.clean_error) {
    for (const auto& [name, e] : table.mean_error) {
      if (e <= *table.clean_error) {
        return InvalidArgumentError(std::string(source_name) + ":" +
                                    std::to_string(first_line[name]) + ": error of " + Quote(name) +
                                    " is not above the clean error");
      }
    }
  }
  return table;
}

StatusOr<CorruptionSummary> SummarizeCorruption(std::vector<SubsetResult> subsets,
                                                const AlexNetErrors& table,
                                                std::optional<double> clean_top1) {
  auto valid_top1 = [](double t) { return std::isfinite(t) && t >= 0 && t <= 100; };
  for (const SubsetResult& s : subsets) {
    const std::string what =
        "corruption subset " + Quote(s.corruption) + " severity " + std::to_string(s.severity);
    if (!IsName(s.corruption)) return InvalidArgumentError(what + ": bad corruption name");
    if (s.severity < 1 || s.severity > kSeverities) {
      return InvalidArgumentError(what + ": severity must be in 1..5");
    }
    if (!valid_top1(s.top1)) {
      return InvalidArgumentError(what + ": top1 " + std::to_string(s.top1) +
                                  " is not in [0, 100]");
    }
  }
  if (clean_top1 && !valid_top1(*clean_top1)) {
    return InvalidArgumentError("clean top1 " + std::to_string(*clean_top1) +
                                " is not in [0, 100]");
  }
  if (table.clean_error && !IsErrorFraction(*table.clean_error)) {
    return InvalidArgumentError("AlexNet clean error " + std::to_string(*table.clean_error) +
                                " is not a fraction in (0, 1]");
  }

  std::sort(subsets.begin(), subsets.end(), [](const SubsetResult& a, const SubsetResult& b) {
    return std::tie(a.corruption, a.severity) < std::tie(b.corruption, b.severity);
  });
  for (size_t i = 1; i < subsets.size(); ++i) {
    if (subsets[i].corruption == subsets[i - 1].corruption &&
        subsets[i].severity == subsets[i - 1].severity) {
      return InvalidArgumentError("corruption subset " + Quote(subsets[i].corruption) +
                                  " severity " + std::to_string(subsets[i].severity) +
                                  " is listed twice");
    }
  }

  const bool relative = clean_top1.has_value() && table.clean_error.has_value();
  const double model_clean_error = relative ? (100.0 - *clean_top1) / 100.0 : 0;

  CorruptionSummary summary;
  double ce_sum = 0, relative_sum = 0;
  int ce_count = 0;
  // Subsets are sorted, so each corruption is one contiguous run: sums go in severity order.
  for (size_t i = 0; i < subsets.size();) {
    const std::string& name = subsets[i].corruption;
    size_t j = i;
    double error_sum = 0;
    while (j < subsets.size() && subsets[j].corruption == name) {
      error_sum += (100.0 - subsets[j].top1) / 100.0;
      ++j;
    }
    const int severities = static_cast<int>(j - i);
    i = j;
    std::optional<double>& ce = summary.ce[name];
    const auto it = table.mean_error.find(name);
    if (it == table.mean_error.end() || severities != kSeverities) continue;
    const double alexnet = it->second;
    if (!IsErrorFraction(alexnet)) {
      return InvalidArgumentError("AlexNet error of " + Quote(name) + " " +
                                  std::to_string(alexnet) + " is not a fraction in (0, 1]");
    }
    const double mean_error = error_sum / kSeverities;
    ce = mean_error / alexnet;
    ce_sum += *ce;
    ++ce_count;
    if (relative) {
      const double denominator = alexnet - *table.clean_error;
      if (!(denominator > 0)) {
        return InvalidArgumentError("AlexNet error of " + Quote(name) +
                                    " is not above its clean error: relative CE undefined");
      }
      relative_sum += (mean_error - model_clean_error) / denominator;
    }
  }
  summary.subsets = std::move(subsets);
  if (ce_count > 0) {
    summary.mce = ce_sum / ce_count;
    if (relative) summary.relative_mce = relative_sum / ce_count;
  }
  return summary;
}

}  // namespace tw::scoring
