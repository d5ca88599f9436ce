// Prometheus metrics: counters, gauges and histograms in a registry that renders the text
// exposition format 0.0.4 (what `/metrics` serves and `promtool check metrics` accepts).
//
// Names after the Go client: a registry holds families; a family has a fixed list of label
// names given at registration, and one child (a Counter, Gauge or Histogram) per distinct list of
// label values, created on first use:
//
//   MetricsRegistry registry;
//   auto& requests = registry.AddCounter("tw_http_requests_total", "HTTP requests served.",
//                                        {"route", "code"});
//   requests.WithLabelValues({"/v1/jobs", "200"}).Inc();
//   auto& queued = registry.AddGauge("tw_jobs_queued", "Jobs waiting for a worker.");
//   queued.WithLabelValues().Set(12);
//
// Cardinality is the caller's job: a child is never removed, so label values must come from a
// small fixed set (a route pattern, a status code, a dataset preset), never from unbounded input
// such as a checkpoint name, a path or a user-supplied string. Each child costs memory for the
// life of the process and one line per scrape.
//
// Registration mistakes are programming errors and abort the process with a message (as
// ConfigDoc does for undeclared keys), so they show on the first run of any test:
//   - a metric name that does not match [a-zA-Z_:][a-zA-Z0-9_:]*, or is already registered;
//   - a counter whose name does not end in "_total", another kind whose name does, or a name
//     ending in "_count", "_sum" or "_bucket" (the suffixes a histogram's series use): promtool
//     rejects these, and the daemon's /metrics must pass it;
//   - empty help text; a label name not matching [a-zA-Z_][a-zA-Z0-9_]*, starting with "__", or
//     repeated; "le" as a histogram label; histogram buckets that are empty, not finite or not
//     strictly increasing.
// Updating with the wrong number of label values, or adding a negative (or NaN) amount to a
// counter, aborts too. promtool also lints camelCase names, ':' and non-base units
// ("_milliseconds"); those are left to the test that runs it.
//
// Thread safety: every method may be called concurrently. The references returned by Add* and
// WithLabelValues stay valid for the registry's lifetime; keeping them saves a lookup per update.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tw {

// The Content-Type of a rendered registry.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A value that only goes up (requests served, bytes read). Starts at 0.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount`, which must be >= 0 (a negative or NaN amount aborts).
  void Inc(double amount = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (queue depth, last success time). Starts at 0.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Inc(double amount = 1);
  void Dec(double amount = 1) { Inc(-amount); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (durations, sizes), with their sum and count.
class Histogram {
 public:
  // What a scrape sees; the counts are consistent with each other (taken under one lock).
  struct Snapshot {
    std::vector<uint64_t> cumulative_counts;  // one per bound, then one for +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };

  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose upper bound is >= value (+Inf otherwise). As in the
  // Go client, NaN is counted in +Inf only and makes the sum NaN.
  void Observe(double value);
  Snapshot Read() const;

 private:
  template <typename Metric>
  friend class MetricFamily;
  explicit Histogram(const std::vector<double>* upper_bounds);  // owned by the family

  const std::vector<double>* upper_bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last one is +Inf
  double sum_ = 0;
};

// One metric family: a name, help text, label names, and its children.
template <typename Metric>
class MetricFamily {
 public:
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  // The child for `label_values` (one per label name, in registration order), created at 0 on
  // first use. A family without labels has exactly one child: WithLabelValues().
  Metric& WithLabelValues(const std::vector<std::string>& label_values = {});

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }  // histograms only

  // The children sorted by label values (what Render prints).
  std::vector<std::pair<std::vector<std::string>, const Metric*>> Children() const;

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::vector<double> upper_bounds);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Register a family (see the top of this file for what aborts). A family without labels gets
  // its one child at once, so it is rendered (as 0) before the first update.
  CounterFamily& AddCounter(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string_view name, std::string_view help,
                        std::vector<std::string> label_names = {});
  // `upper_bounds`: the buckets' inclusive upper bounds, strictly increasing; +Inf is implied.
  HistogramFamily& AddHistogram(std::string_view name, std::string_view help,
                                std::vector<double> upper_bounds,
                                std::vector<std::string> label_names = {});

  // Like Add*, but a family already registered under `name` with the same kind, help, label
  // names (and buckets) is returned instead of aborting; any difference still aborts. For a
  // component that may be started more than once against one registry (an HTTP server restarted
  // on reload).
  CounterFamily& GetOrAddCounter(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names = {});
  HistogramFamily& GetOrAddHistogram(std::string_view name, std::string_view help,
                                     std::vector<double> upper_bounds,
                                     std::vector<std::string> label_names = {});

  // The text exposition format 0.0.4: families sorted by name, each as "# HELP", "# TYPE" and
  // its samples, children sorted by label values; histograms as _bucket{le=...} (cumulative,
  // ending with le="+Inf"), _sum and _count. Label values are escaped (\\, \", \n) and invalid
  // UTF-8 is replaced by U+FFFD (promtool refuses it). A labelled family with no children yet
  // prints nothing. Ends with "\n" (empty for an empty registry).
  std::string Render() const;

 private:
  struct Families;
  void CheckNewName(std::string_view name, std::string_view kind) const;  // under mu_

  mutable std::recursive_mutex mu_;  // recursive: GetOrAdd* calls Add* under it
  std::unique_ptr<Families> families_;
};

// The exposition format's number syntax: "NaN", "+Inf", "-Inf", integers without a fraction
// ("3", not "3.0" or "3e+00") up to 2^53, otherwise the shortest text that reads back the same.
std::string FormatMetricValue(double value);

// `value` escaped for a label value between double quotes: \ -> \\, " -> \", newline -> \n;
// ill-formed UTF-8 bytes become U+FFFD.
std::string EscapeLabelValue(std::string_view value);

}  // namespace tw
