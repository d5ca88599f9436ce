// plots/: escaping, number formatting, tick choice, and the charts' documents (point counts,
// positions, the fitted curve, empty and non-finite input, well-formedness, determinism).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "plots/charts.h"
#include "plots/svg.h"

namespace tw::plots {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// A small well-formedness check: tags nest and close, attribute values are quoted, and no raw
// '<' or '&' appears in text or attributes (only entities). Returns "" when fine.
std::string CheckWellFormed(const std::string& doc) {
  std::vector<std::string> open;
  size_t i = 0;
  while (i < doc.size()) {
    if (doc[i] == '&') {
      const size_t semi = doc.find(';', i);
      if (semi == std::string::npos || semi - i > 8) return "bare & at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (doc[i] != '<') {
      if (doc[i] == '>') return "bare > at " + std::to_string(i);
      ++i;
      continue;
    }
    const size_t close = doc.find('>', i);
    if (close == std::string::npos) return "unterminated tag";
    std::string tag = doc.substr(i + 1, close - i - 1);
    // Quoted attribute values must not contain '<'.
    if (Count(tag, "\"") % 2 != 0) return "odd quotes in <" + tag + ">";
    if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
    if (!tag.empty() && tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) return "unexpected </" + name + ">";
      open.pop_back();
    } else if (!tag.empty() && tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = close + 1;
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

TEST(XmlEscapeTest, EscapesMarkupQuotesAndAmpersands) {
  EXPECT_EQ(XmlEscape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
  EXPECT_EQ(XmlEscape("run-1/step_2.pt"), "run-1/step_2.pt");
  EXPECT_EQ(XmlEscape(""), "");
}

TEST(XmlEscapeTest, KeepsUtf8AndReplacesWhatXmlCannotCarry) {
  EXPECT_EQ(XmlEscape("caf\xC3\xA9 \xE2\x9C\x93"), "caf\xC3\xA9 \xE2\x9C\x93");
  EXPECT_EQ(XmlEscape("a\tb\nc"), "a\tb\nc");
  EXPECT_EQ(XmlEscape("bad\xFF"), "bad\xEF\xBF\xBD");
  EXPECT_EQ(XmlEscape(std::string("nul\0x", 5)), "nul\xEF\xBF\xBDx");
  EXPECT_EQ(XmlEscape("bell\x07"), "bell\xEF\xBF\xBD");
  EXPECT_EQ(XmlEscape("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(XmlEscape("\xEF\xBF\xBF"), "\xEF\xBF\xBD");          // U+FFFF
}

TEST(FormatTest, ValuesRoundTripAndFixedHasNoNegativeZero) {
  EXPECT_EQ(FormatValue(80.5), "80.5");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(2000), "2000");
  EXPECT_EQ(FormatValue(71.123456789), "71.123456789");
  EXPECT_EQ(std::stod(FormatValue(1.0 / 3)), 1.0 / 3);
  EXPECT_EQ(FormatValue(NAN), "nan");
  EXPECT_EQ(FormatValue(-INFINITY), "-inf");
  EXPECT_EQ(FormatFixed(12.345, 1), "12.3");
  EXPECT_EQ(FormatFixed(-0.001, 2), "0.00");
  EXPECT_EQ(FormatFixed(-1.5, 0), "-2");
  EXPECT_EQ(FormatFixed(3, 0), "3");
  EXPECT_EQ(FormatFixed(NAN, 2), "0");
}

TEST(NiceTicksTest, ChoosesOneTwoFiveSteps) {
  Ticks t = NiceTicks(0, 100, 6);
  EXPECT_EQ(t.step, 20);
  EXPECT_THAT(t.values, ::testing::ElementsAre(0, 20, 40, 60, 80, 100));
  EXPECT_EQ(t.decimals, 0);

  t = NiceTicks(71.3, 78.9, 6);
  EXPECT_EQ(t.step, 1);
  EXPECT_EQ(t.lo, 71);
  EXPECT_EQ(t.hi, 79);

  t = NiceTicks(0.1, 0.35, 5);
  EXPECT_EQ(t.decimals, 2);
  // Each the double nearest its decimal (0.3, not 0.30000000000000004).
  EXPECT_THAT(t.values, ::testing::ElementsAre(0.1, 0.15, 0.2, 0.25, 0.3, 0.35));

  t = NiceTicks(0.1, 0.4, 3);
  EXPECT_EQ(t.decimals, 1);
  EXPECT_THAT(t.values, ::testing::ElementsAre(0.1, 0.2, 0.3, 0.4));

  t = NiceTicks(0, 12000, 6);
  EXPECT_EQ(t.step, 2000);
  EXPECT_EQ(t.hi, 12000);
}

TEST(NiceTicksTest, DegenerateAndNonFiniteRanges) {
  Ticks one = NiceTicks(80, 80);
  EXPECT_LT(one.lo, 80);
  EXPECT_GT(one.hi, 80);
  Ticks zero = NiceTicks(0, 0);
  EXPECT_LT(zero.lo, 0);
  EXPECT_GT(zero.hi, 0);
  Ticks reversed = NiceTicks(10, 0);
  EXPECT_EQ(reversed.lo, 0);
  EXPECT_EQ(reversed.hi, 10);
  Ticks none = NiceTicks(NAN, INFINITY);
  EXPECT_EQ(none.lo, 0);
  EXPECT_EQ(none.hi, 1);
  Ticks half = NiceTicks(NAN, 5);
  EXPECT_LT(half.lo, 5);
  EXPECT_GT(half.hi, 5);
}

TEST(NiceTicksTest, CoverTheDataWithFewShortTicks) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-4, 7);
  std::uniform_real_distribution<double> unit(-1, 1);
  for (int i = 0; i < 2000; ++i) {
    const double scale = std::pow(10.0, exponent(rng));
    double a = unit(rng) * scale, b = unit(rng) * scale;
    if (a > b) std::swap(a, b);
    const Ticks t = NiceTicks(a, b, 6);
    ASSERT_LE(t.lo, a) << a << " " << b;
    ASSERT_GE(t.hi, b) << a << " " << b;
    ASSERT_GE(t.values.size(), 3u) << a << " " << b;
    ASSERT_LE(t.values.size(), 14u) << a << " " << b;
    const double mantissa = t.step / std::pow(10.0, std::floor(std::log10(t.step) + 1e-9));
    ASSERT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
                std::abs(mantissa - 5) < 1e-9)
        << t.step;
    for (double v : t.values) {
      // Every label, at the chosen decimals, reads back as the tick.
      ASSERT_NEAR(std::stod(FormatFixed(v, t.decimals)), v, t.step * 1e-6) << v;
    }
  }
}

LineChart TwoSeries() {
  LineChart chart;
  chart.title = "run <a> & b";
  chart.x_label = "step";
  chart.y_label = "top-1 (%)";
  chart.series.push_back({"imagenet",
                          {{1000, 70, "r/step_1000.pt"},
                           {2000, 74.5, "r/step_2000.pt"},
                           {3000, 75, "r/step_3000.pt"}}});
  chart.series.push_back({"<sketch>",
                          {{1000, 40, "r/step_1000.pt"},
                           {2000, NAN, "r/step_2000.pt"},
                           {3000, 38.25, "r/step_3000.pt"}}});
  chart.markers.push_back({"<sketch>", 3000, 38.25, "regression",
                           "regression on <sketch>: -1.75 points", "r/step_3000.pt"});
  chart.markers.push_back({"imagenet", 2000, 74.5, "no-transfer", "", "r/step_2000.pt"});
  return chart;
}

TEST(LineChartTest, OnePointElementPerFiniteValueAndOneMarkerPerFlag) {
  const std::string svg = RenderLineChart(TwoSeries());
  EXPECT_EQ(CheckWellFormed(svg), "");
  EXPECT_EQ(Count(svg, "class=\"point\""), 5u);
  EXPECT_THAT(svg, HasSubstr("data-points=\"5\" data-skipped=\"1\""));
  EXPECT_EQ(Count(svg, "class=\"flag\""), 2u);
  EXPECT_THAT(svg,
              HasSubstr("<g class=\"flag\" data-kind=\"regression\" data-series=\"&lt;sketch&gt;\" "
                        "data-label=\"r/step_3000.pt\" data-x=\"3000\" data-y=\"38.25\">"));
  EXPECT_THAT(svg, HasSubstr("data-series=\"imagenet\" data-label=\"r/step_2000.pt\" "
                             "data-x=\"2000\" data-y=\"74.5\""));
  // The NaN splits the second series: two one-point runs draw no line at all.
  EXPECT_EQ(Count(svg, "class=\"series-line\""), 1u);
  // Names are text, never markup.
  EXPECT_THAT(svg, Not(HasSubstr("<sketch>")));
  EXPECT_THAT(svg, Not(HasSubstr("<a>")));
  EXPECT_THAT(svg, HasSubstr("run &lt;a&gt; &amp; b"));
  EXPECT_THAT(svg, HasSubstr("regression flag"));
  EXPECT_THAT(svg, HasSubstr("no-transfer note"));
}

TEST(LineChartTest, PlacesPointsOnTheAxes) {
  LineChart chart;
  chart.series.push_back({"s", {{0, 0, "a"}, {100, 100, "b"}, {50, 50, "c"}}});
  const std::string svg = RenderLineChart(chart);
  // Plot area: x 64..544 (760 - legend 200 - 16), y 40..368 (420 - 52); ticks 0..100.
  EXPECT_THAT(svg, HasSubstr("data-label=\"c\" data-x=\"50\" data-y=\"50\" cx=\"304.00\" "
                             "cy=\"204.00\""));
  EXPECT_THAT(svg, HasSubstr("cx=\"64.00\" cy=\"368.00\""));
  EXPECT_THAT(svg, HasSubstr("cx=\"544.00\" cy=\"40.00\""));
  EXPECT_THAT(svg, HasSubstr(">100</text>"));
}

TEST(LineChartTest, EmptyAndAllNaNChartsSayNoData) {
  LineChart empty;
  empty.title = "nothing";
  std::string svg = RenderLineChart(empty);
  EXPECT_EQ(CheckWellFormed(svg), "");
  EXPECT_THAT(svg, HasSubstr("data-points=\"0\""));
  EXPECT_THAT(svg, HasSubstr(">no data</text>"));
  EXPECT_EQ(Count(svg, "class=\"point\""), 0u);

  LineChart nan;
  nan.series.push_back({"s", {{NAN, 1, "a"}, {1, INFINITY, "b"}}});
  nan.markers.push_back({"s", NAN, 1, "regression", "", "a"});
  svg = RenderLineChart(nan);
  EXPECT_EQ(CheckWellFormed(svg), "");
  EXPECT_THAT(svg, HasSubstr("data-points=\"0\" data-skipped=\"2\""));
  EXPECT_EQ(Count(svg, "class=\"flag\""), 0u);
}

TEST(LineChartTest, IsDeterministic) {
  EXPECT_EQ(RenderLineChart(TwoSeries()), RenderLineChart(TwoSeries()));
}

ScatterPlot Pool() {
  ScatterPlot plot;
  plot.title = "sketch vs imagenet";
  plot.x_label = "imagenet top-1 (%)";
  plot.y_label = "sketch top-1 (%)";
  plot.points = {{0, 0, "m0", "imported models", false},
                 {100, 100, "m1", "imported models", false},
                 {50, 50, "run/<x>.pt", "checkpoints", true},
                 {60, 30, "other/a.pt", "checkpoints", false},
                 {NAN, 30, "broken", "checkpoints", false}};
  plot.fit = LogitFit{1, 0};
  plot.highlight_name = "run \"run\"";
  return plot;
}

TEST(ScatterTest, CountsHighlightsAndEscapes) {
  const std::string svg = RenderScatter(Pool());
  EXPECT_EQ(CheckWellFormed(svg), "");
  EXPECT_EQ(Count(svg, "class=\"point\""), 4u);
  EXPECT_THAT(svg, HasSubstr("data-points=\"4\" data-skipped=\"1\""));
  EXPECT_EQ(Count(svg, "data-highlighted=\"true\""), 1u);
  EXPECT_THAT(svg, HasSubstr("data-highlighted=\"true\" data-label=\"run/&lt;x&gt;.pt\""));
  EXPECT_THAT(svg, Not(HasSubstr("<x>")));
  EXPECT_THAT(svg, HasSubstr("run &quot;run&quot;"));
  EXPECT_THAT(svg, HasSubstr("imported models"));
  EXPECT_EQ(Count(svg, "class=\"diagonal\""), 1u);
}

TEST(ScatterTest, TheFitIsSampledInLogitSpace) {
  ScatterPlot plot = Pool();
  std::string svg = RenderScatter(plot);
  // Plot area: x 64..544, y 40..468 (520 - 52); ticks 0..100 on both axes. Slope 1, intercept 0
  // is y = x: the curve passes through (50, 50) at pixel (304, 254), as the point there does.
  EXPECT_THAT(svg, HasSubstr("class=\"fit\" data-slope=\"1\" data-intercept=\"0\""));
  EXPECT_THAT(svg, HasSubstr("cx=\"304.00\" cy=\"254.00\""));
  EXPECT_THAT(svg, HasSubstr(" 304.00,254.00 "));

  // logit(y) = logit(x) + logit(0.2) - logit(0.5): at x = 50 the curve is at y = 20, i.e.
  // pixel y = 468 - 0.2 * 428 = 382.4.
  plot.fit = LogitFit{1, std::log(0.2 / 0.8)};
  svg = RenderScatter(plot);
  EXPECT_THAT(svg, HasSubstr(" 304.00,382.40 "));

  plot.fit.reset();
  svg = RenderScatter(plot);
  EXPECT_EQ(Count(svg, "class=\"fit\""), 0u);
  EXPECT_THAT(svg, Not(HasSubstr("effective-robustness fit")));
}

TEST(ScatterTest, EmptyPoolSaysNoData) {
  ScatterPlot plot;
  plot.fit = LogitFit{1, 0};
  const std::string svg = RenderScatter(plot);
  EXPECT_EQ(CheckWellFormed(svg), "");
  EXPECT_THAT(svg, HasSubstr(">no data</text>"));
  EXPECT_EQ(Count(svg, "class=\"fit\""), 0u);
  EXPECT_EQ(RenderScatter(Pool()), RenderScatter(Pool()));
}

TEST(ScatterTest, IdsAreSanitised) {
  ScatterPlot plot = Pool();
  plot.id = "a\"><script>";
  const std::string svg = RenderScatter(plot);
  EXPECT_THAT(svg, HasSubstr("clipPath id=\"a___script_-clip\""));
  EXPECT_EQ(CheckWellFormed(svg), "");
}

}  // namespace
}  // namespace tw::plots
