#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace tw {
namespace {

using ::testing::HasSubstr;

TEST(FormatMetricValueTest, Formats) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-0.0), "0");
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(-42), "-42");
  EXPECT_EQ(FormatMetricValue(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(FormatMetricValue(1e20), "1e+20");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(2.5), "2.5");
  EXPECT_EQ(FormatMetricValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(FormatMetricValue(kInf), "+Inf");
  EXPECT_EQ(FormatMetricValue(-kInf), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  for (double v : {0.1, 1.0 / 3, 1e-300, 123456.789, 6.02214076e23, -2.2250738585072014e-308}) {
    EXPECT_EQ(std::strtod(FormatMetricValue(v).c_str(), nullptr), v) << v;
  }
}

TEST(EscapeLabelValueTest, EscapesAndRepairsUtf8) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeLabelValue("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(EscapeLabelValue("bad\xFFz"), "bad\xEF\xBF\xBDz");
  EXPECT_EQ(EscapeLabelValue("\xC3"), "\xEF\xBF\xBD");  // truncated sequence
}

TEST(MetricsRegistryTest, EmptyRegistryRendersNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.Render(), "");
}

TEST(MetricsRegistryTest, RendersCountersAndGaugesSortedWithLabels) {
  MetricsRegistry registry;
  auto& requests =
      registry.AddCounter("tw_http_requests_total", "HTTP requests served.", {"route", "code"});
  auto& queued = registry.AddGauge("tw_jobs_queued", "Jobs waiting for a worker.");
  registry.AddGauge("tw_unused", "A labelled family with no children.", {"x"});
  requests.WithLabelValues({"/v1/runs", "200"}).Inc();
  requests.WithLabelValues({"/v1/runs", "200"}).Inc(2);
  requests.WithLabelValues({"/healthz", "200"}).Inc();
  requests.WithLabelValues({"/v1/runs", "404"}).Inc(0.5);
  queued.WithLabelValues().Set(12);
  queued.WithLabelValues().Dec(2.5);

  EXPECT_EQ(registry.Render(),
            "# HELP tw_http_requests_total HTTP requests served.\n"
            "# TYPE tw_http_requests_total counter\n"
            "tw_http_requests_total{route=\"/healthz\",code=\"200\"} 1\n"
            "tw_http_requests_total{route=\"/v1/runs\",code=\"200\"} 3\n"
            "tw_http_requests_total{route=\"/v1/runs\",code=\"404\"} 0.5\n"
            "# HELP tw_jobs_queued Jobs waiting for a worker.\n"
            "# TYPE tw_jobs_queued gauge\n"
            "tw_jobs_queued 9.5\n");
}

TEST(MetricsRegistryTest, UnlabelledFamiliesRenderAsZeroBeforeFirstUpdate) {
  MetricsRegistry registry;
  registry.AddCounter("a_total", "A.");
  registry.AddHistogram("b_seconds", "B.", {1});
  EXPECT_EQ(registry.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP b_seconds B.\n# TYPE b_seconds histogram\n"
            "b_seconds_bucket{le=\"1\"} 0\nb_seconds_bucket{le=\"+Inf\"} 0\n"
            "b_seconds_sum 0\nb_seconds_count 0\n");
}

TEST(MetricsRegistryTest, RendersHistogramBucketsCumulatively) {
  MetricsRegistry registry;
  auto& latency = registry.AddHistogram("tw_request_duration_seconds", "Request latency.",
                                        {0.005, 0.1, 1}, {"route"});
  auto& h = latency.WithLabelValues({"/v1/runs"});
  h.Observe(0.005);  // inclusive upper bound
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(7);
  const Histogram::Snapshot snapshot = h.Read();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 7.555);

  EXPECT_EQ(registry.Render(),
            "# HELP tw_request_duration_seconds Request latency.\n"
            "# TYPE tw_request_duration_seconds histogram\n"
            "tw_request_duration_seconds_bucket{route=\"/v1/runs\",le=\"0.005\"} 1\n"
            "tw_request_duration_seconds_bucket{route=\"/v1/runs\",le=\"0.1\"} 2\n"
            "tw_request_duration_seconds_bucket{route=\"/v1/runs\",le=\"1\"} 3\n"
            "tw_request_duration_seconds_bucket{route=\"/v1/runs\",le=\"+Inf\"} 4\n"
            "tw_request_duration_seconds_sum{route=\"/v1/runs\"} 7.555\n"
            "tw_request_duration_seconds_count{route=\"/v1/runs\"} 4\n");
}

TEST(MetricsRegistryTest, HistogramCountsNanInInfOnly) {
  MetricsRegistry registry;
  auto& h = registry.AddHistogram("h_bytes", "H.", {1, 2}).WithLabelValues();
  h.Observe(std::nan(""));
  const Histogram::Snapshot snapshot = h.Read();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{0, 0, 1}));
  EXPECT_TRUE(std::isnan(snapshot.sum));
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  auto& family = registry.AddGauge("g", "Help with \\ and\nnewline and \"quotes\".", {"name"});
  family.WithLabelValues({"a\"b\\c\nd\xFF"}).Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP g Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE g gauge\n"
            "g{name=\"a\\\"b\\\\c\\nd\xEF\xBF\xBD\"} 1\n");
}

TEST(MetricsRegistryTest, ReferencesStayValidAndChildrenAreShared) {
  MetricsRegistry registry;
  auto& family = registry.AddCounter("c_total", "C.", {"k"});
  Counter& first = family.WithLabelValues({"x"});
  for (int i = 0; i < 100; ++i) family.WithLabelValues({std::to_string(i)});
  EXPECT_EQ(&first, &family.WithLabelValues({"x"}));
  first.Inc();
  EXPECT_EQ(family.WithLabelValues({"x"}).Value(), 1);
  EXPECT_EQ(family.Children().size(), 101u);
  EXPECT_EQ(family.Children().front().first, std::vector<std::string>{"0"});
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  auto& counter = registry.AddCounter("c_total", "C.", {"k"});
  auto& gauge = registry.AddGauge("g", "G.").WithLabelValues();
  auto& histogram = registry.AddHistogram("h_seconds", "H.", {0.5}).WithLabelValues();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.WithLabelValues({i % 2 == 0 ? "even" : "odd"}).Inc();
        gauge.Inc();
        histogram.Observe(t % 2 == 0 ? 0.25 : 1);
        if (i % 1000 == 0) (void)registry.Render();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.WithLabelValues({"even"}).Value(), kThreads * kPerThread / 2);
  EXPECT_EQ(counter.WithLabelValues({"odd"}).Value(), kThreads * kPerThread / 2);
  EXPECT_EQ(gauge.Value(), kThreads * kPerThread);
  const Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.count, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(snapshot.cumulative_counts[0], static_cast<uint64_t>(kThreads * kPerThread / 2));
}

TEST(MetricsRegistryTest, GetOrAddReturnsTheSameFamily) {
  MetricsRegistry registry;
  auto& counter = registry.GetOrAddCounter("r_total", "R.", {"code"});
  EXPECT_EQ(&counter, &registry.GetOrAddCounter("r_total", "R.", {"code"}));
  auto& histogram = registry.GetOrAddHistogram("d_seconds", "D.", {1, 2}, {"route"});
  EXPECT_EQ(&histogram, &registry.GetOrAddHistogram("d_seconds", "D.", {1, 2}, {"route"}));
}

using MetricsRegistryDeathTest = ::testing::Test;

TEST(MetricsRegistryDeathTest, GetOrAddWithDifferentDefinitionAborts) {
  MetricsRegistry registry;
  registry.GetOrAddCounter("r_total", "R.", {"code"});
  registry.GetOrAddHistogram("d_seconds", "D.", {1, 2});
  registry.AddGauge("g", "G.");
  EXPECT_DEATH(registry.GetOrAddCounter("r_total", "R.", {"route"}), "registered again");
  EXPECT_DEATH(registry.GetOrAddCounter("r_total", "Other help.", {"code"}), "registered again");
  EXPECT_DEATH(registry.GetOrAddHistogram("d_seconds", "D.", {1, 3}), "registered again");
  EXPECT_DEATH(registry.GetOrAddCounter("d_seconds", "D."), "registered again");
  EXPECT_DEATH(registry.GetOrAddHistogram("g", "G.", {1}), "registered again");
}

TEST(MetricsRegistryDeathTest, BadNamesAbort) {
  MetricsRegistry registry;
  registry.AddCounter("taken_total", "T.");
  EXPECT_DEATH(registry.AddCounter("taken_total", "T."), "already registered");
  EXPECT_DEATH(registry.AddGauge("9lives", "G."), "not a valid metric name");
  EXPECT_DEATH(registry.AddGauge("has-dash", "G."), "not a valid metric name");
  EXPECT_DEATH(registry.AddGauge("", "G."), "not a valid metric name");
  EXPECT_DEATH(registry.AddCounter("requests", "C."), "must end in '_total'");
  EXPECT_DEATH(registry.AddGauge("requests_total", "G."), "only a counter");
  EXPECT_DEATH(registry.AddHistogram("x_total", "H.", {1}), "only a counter");
  EXPECT_DEATH(registry.AddGauge("x_count", "G."), "'_count'");
  EXPECT_DEATH(registry.AddGauge("x_sum", "G."), "'_sum'");
  EXPECT_DEATH(registry.AddHistogram("x_bucket", "H.", {1}), "'_bucket'");
  EXPECT_DEATH(registry.AddGauge("g", ""), "empty help");
}

TEST(MetricsRegistryDeathTest, BadLabelsAbort) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.AddGauge("g", "G.", {"bad-label"}), "not a valid label name");
  EXPECT_DEATH(registry.AddGauge("g", "G.", {"a:b"}), "not a valid label name");
  EXPECT_DEATH(registry.AddGauge("g", "G.", {"__reserved"}), "reserved");
  EXPECT_DEATH(registry.AddGauge("g", "G.", {"a", "a"}), "repeated");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {1}, {"le"}), "'le' is reserved");
  registry.AddGauge("ok", "G.", {"le"});  // fine outside histograms
}

TEST(MetricsRegistryDeathTest, BadBucketsAbort) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {}), "at least one bucket");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {1, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {2, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {1, std::numeric_limits<double>::infinity()}),
               "finite");
  EXPECT_DEATH(registry.AddHistogram("h", "H.", {std::nan("")}), "finite");
}

TEST(MetricsRegistryDeathTest, BadUpdatesAbort) {
  MetricsRegistry registry;
  auto& counter = registry.AddCounter("c_total", "C.", {"a", "b"});
  EXPECT_DEATH(counter.WithLabelValues({"only-one"}), "2 label\\(s\\) but was given 1");
  EXPECT_DEATH(counter.WithLabelValues(), "2 label\\(s\\) but was given 0");
  Counter& child = counter.WithLabelValues({"x", "y"});
  EXPECT_DEATH(child.Inc(-1), "negative or NaN");
  EXPECT_DEATH(child.Inc(std::nan("")), "negative or NaN");
}

}  // namespace
}  // namespace tw
