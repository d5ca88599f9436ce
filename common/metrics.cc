#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include "common/utf8.h"

namespace tw {
namespace {

[[noreturn]] void DieMisuse(const std::string& message) {
  std::fprintf(stderr, "FATAL: metrics misuse: %s\n", message.c_str());
  std::abort();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c))) continue;
    return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c))) continue;
    return false;
  }
  return true;
}

// Atomically adds to a double (std::atomic<double>::fetch_add is C++20).
void AtomicAdd(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

// Escapes \ and newline (and " when `quote`), replacing ill-formed UTF-8 bytes by U+FFFD.
std::string EscapeText(std::string_view value, bool quote) {
  std::string out;
  out.reserve(value.size());
  size_t i = 0;
  while (i < value.size()) {
    const char c = value[i];
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c == '"' && quote) {
      out += "\\\"";
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else {
      const size_t length = Utf8SequenceLength(value, i);
      if (length == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(value.substr(i, length));
        i += length;
      }
    }
  }
  return out;
}

// `{a="x",b="y"}` for the given names and values plus an optional extra pair; "" when empty.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

void CheckLabelNames(std::string_view metric, const std::vector<std::string>& label_names,
                     bool histogram) {
  std::set<std::string> seen;
  for (const std::string& label : label_names) {
    const std::string where = "metric '" + std::string(metric) + "' label '" + label + "'";
    if (!IsValidLabelName(label)) DieMisuse(where + ": not a valid label name");
    if (label.rfind("__", 0) == 0) DieMisuse(where + ": names starting with '__' are reserved");
    if (histogram && label == "le") DieMisuse(where + ": 'le' is reserved for histogram buckets");
    if (!seen.insert(label).second) DieMisuse(where + ": repeated");
  }
}

}  // namespace

// ---- Counter, Gauge, Histogram ----------------------------------------------------------------

void Counter::Inc(double amount) {
  if (!(amount >= 0)) {
    DieMisuse("Counter::Inc with a negative or NaN amount (" + FormatMetricValue(amount) + ")");
  }
  AtomicAdd(value_, amount);
}

void Gauge::Inc(double amount) { AtomicAdd(value_, amount); }

Histogram::Histogram(const std::vector<double>* upper_bounds)
    : upper_bounds_(upper_bounds), counts_(upper_bounds->size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t bucket = upper_bounds_->size();  // +Inf (also NaN's bucket)
  if (!std::isnan(value)) {
    bucket =
        static_cast<size_t>(std::lower_bound(upper_bounds_->begin(), upper_bounds_->end(), value) -
                            upper_bounds_->begin());
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  std::lock_guard<std::mutex> lock(mu_);
  snapshot.cumulative_counts.reserve(counts_.size());
  uint64_t running = 0;
  for (uint64_t count : counts_) {
    running += count;
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_;
  return snapshot;
}

// ---- MetricFamily -----------------------------------------------------------------------------

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   std::vector<double> upper_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

template <typename Metric>
Metric& MetricFamily<Metric>::WithLabelValues(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    DieMisuse("metric '" + name_ + "' has " + std::to_string(label_names_.size()) +
              " label(s) but was given " + std::to_string(label_values.size()) + " value(s)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(label_values);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<Metric> child;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    child.reset(new Histogram(&upper_bounds_));
  } else {
    child = std::make_unique<Metric>();
  }
  Metric& ref = *child;
  children_.emplace(label_values, std::move(child));
  return ref;
}

template <typename Metric>
std::vector<std::pair<std::vector<std::string>, const Metric*>> MetricFamily<Metric>::Children()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::vector<std::string>, const Metric*>> out;
  out.reserve(children_.size());
  for (const auto& [values, child] : children_) out.emplace_back(values, child.get());
  return out;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// ---- MetricsRegistry --------------------------------------------------------------------------

struct MetricsRegistry::Families {
  // Exactly one of the three is set; the map keeps them sorted by name for Render.
  struct Entry {
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  std::map<std::string, Entry, std::less<>> by_name;
};

MetricsRegistry::MetricsRegistry() : families_(std::make_unique<Families>()) {}
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::CheckNewName(std::string_view name, std::string_view kind) const {
  const std::string quoted = "metric '" + std::string(name) + "'";
  if (!IsValidMetricName(name)) DieMisuse(quoted + ": not a valid metric name");
  if (families_->by_name.count(name) > 0) DieMisuse(quoted + ": already registered");
  const bool is_counter = kind == "counter";
  if (is_counter && !EndsWith(name, "_total")) {
    DieMisuse(quoted + ": a counter's name must end in '_total'");
  }
  if (!is_counter && EndsWith(name, "_total")) {
    DieMisuse(quoted + ": only a counter's name may end in '_total' (this is a " +
              std::string(kind) + ")");
  }
  for (std::string_view suffix : {"_count", "_sum", "_bucket"}) {
    if (EndsWith(name, suffix)) {
      DieMisuse(quoted + ": names ending in '" + std::string(suffix) +
                "' clash with histogram series");
    }
  }
}

CounterFamily& MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                           std::vector<std::string> label_names) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CheckNewName(name, "counter");
  if (help.empty()) DieMisuse("metric '" + std::string(name) + "': empty help text");
  CheckLabelNames(name, label_names, /*histogram=*/false);
  const bool unlabelled = label_names.empty();
  auto& entry = families_->by_name[std::string(name)];
  entry.counter.reset(
      new CounterFamily(std::string(name), std::string(help), std::move(label_names), {}));
  if (unlabelled) entry.counter->WithLabelValues();
  return *entry.counter;
}

GaugeFamily& MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                       std::vector<std::string> label_names) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CheckNewName(name, "gauge");
  if (help.empty()) DieMisuse("metric '" + std::string(name) + "': empty help text");
  CheckLabelNames(name, label_names, /*histogram=*/false);
  const bool unlabelled = label_names.empty();
  auto& entry = families_->by_name[std::string(name)];
  entry.gauge.reset(
      new GaugeFamily(std::string(name), std::string(help), std::move(label_names), {}));
  if (unlabelled) entry.gauge->WithLabelValues();
  return *entry.gauge;
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                               std::vector<double> upper_bounds,
                                               std::vector<std::string> label_names) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  CheckNewName(name, "histogram");
  const std::string quoted = "metric '" + std::string(name) + "'";
  if (help.empty()) DieMisuse(quoted + ": empty help text");
  CheckLabelNames(name, label_names, /*histogram=*/true);
  if (upper_bounds.empty()) DieMisuse(quoted + ": a histogram needs at least one bucket");
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i])) DieMisuse(quoted + ": bucket bounds must be finite");
    if (i > 0 && !(upper_bounds[i] > upper_bounds[i - 1])) {
      DieMisuse(quoted + ": bucket bounds must be strictly increasing");
    }
  }
  const bool unlabelled = label_names.empty();
  auto& entry = families_->by_name[std::string(name)];
  entry.histogram.reset(new HistogramFamily(std::string(name), std::string(help),
                                            std::move(label_names), std::move(upper_bounds)));
  if (unlabelled) entry.histogram->WithLabelValues();
  return *entry.histogram;
}

CounterFamily& MetricsRegistry::GetOrAddCounter(std::string_view name, std::string_view help,
                                                std::vector<std::string> label_names) {
  std::lock_guard<std::recursive_mutex> lock(mu_);  // held across AddCounter too
  {
    auto it = families_->by_name.find(name);
    if (it != families_->by_name.end()) {
      const auto& family = it->second.counter;
      if (!family || family->help() != help || family->label_names() != label_names) {
        DieMisuse("metric '" + std::string(name) + "': registered again with another kind, " +
                  "help or labels");
      }
      return *family;
    }
  }
  return AddCounter(name, help, std::move(label_names));
}

HistogramFamily& MetricsRegistry::GetOrAddHistogram(std::string_view name, std::string_view help,
                                                    std::vector<double> upper_bounds,
                                                    std::vector<std::string> label_names) {
  std::lock_guard<std::recursive_mutex> lock(mu_);  // held across AddHistogram too
  {
    auto it = families_->by_name.find(name);
    if (it != families_->by_name.end()) {
      const auto& family = it->second.histogram;
      if (!family || family->help() != help || family->label_names() != label_names ||
          family->upper_bounds() != upper_bounds) {
        DieMisuse("metric '" + std::string(name) + "': registered again with another kind, " +
                  "help, labels or buckets");
      }
      return *family;
    }
  }
  return AddHistogram(name, help, std::move(upper_bounds), std::move(label_names));
}

namespace {

template <typename Family>
void RenderHeader(const Family& family, std::string_view type, std::string& out) {
  out += "# HELP ";
  out += family.name();
  out += ' ';
  out += EscapeText(family.help(), /*quote=*/false);
  out += "\n# TYPE ";
  out += family.name();
  out += ' ';
  out += type;
  out += '\n';
}

template <typename Family>
void RenderScalar(const Family& family, std::string_view type, std::string& out) {
  const auto children = family.Children();
  if (children.empty()) return;
  RenderHeader(family, type, out);
  for (const auto& [values, child] : children) {
    out += family.name();
    out += LabelSet(family.label_names(), values);
    out += ' ';
    out += FormatMetricValue(child->Value());
    out += '\n';
  }
}

void RenderHistogram(const HistogramFamily& family, std::string& out) {
  const auto children = family.Children();
  if (children.empty()) return;
  RenderHeader(family, "histogram", out);
  const std::vector<double>& bounds = family.upper_bounds();
  for (const auto& [values, child] : children) {
    const Histogram::Snapshot snapshot = child->Read();
    for (size_t i = 0; i <= bounds.size(); ++i) {
      const std::string le = i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf";
      out += family.name();
      out += "_bucket";
      out += LabelSet(family.label_names(), values, "le", le);
      out += ' ';
      out += std::to_string(snapshot.cumulative_counts[i]);
      out += '\n';
    }
    const std::string labels = LabelSet(family.label_names(), values);
    out += family.name() + "_sum" + labels + ' ' + FormatMetricValue(snapshot.sum) + '\n';
    out += family.name() + "_count" + labels + ' ' + std::to_string(snapshot.count) + '\n';
  }
}

}  // namespace

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::string out;
  for (const auto& [name, entry] : families_->by_name) {
    if (entry.counter) RenderScalar(*entry.counter, "counter", out);
    if (entry.gauge) RenderScalar(*entry.gauge, "gauge", out);
    if (entry.histogram) RenderHistogram(*entry.histogram, out);
  }
  return out;
}

// ---- Formatting -------------------------------------------------------------------------------

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return "0";                              // also -0
  constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53
  if (std::fabs(value) <= kMaxExactInteger && value == std::trunc(value)) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", value);
    return buf;
  }
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string EscapeLabelValue(std::string_view value) { return EscapeText(value, /*quote=*/true); }

}  // namespace tw
