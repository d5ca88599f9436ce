// Server-side SVG charts for the dashboard and `transferwatch plot`: a line chart of accuracy over
// training with flags marked, and a reference-vs-variant scatter with the effective-robustness
// fit. Plain structs in, one self-contained SVG document out; no I/O, no store, no clock, and the
// same input always gives the same bytes.
//
//   plots::LineChart chart;
//   chart.title = "run-a: top-1 by step";
//   chart.series.push_back({"imagenet", {{1000, 71.2, "run-a/step_1000.pt"}, ...}});
//   chart.markers.push_back({"sketch", 2000, 40.1, "regression", "vs run-a/step_1000.pt ..."});
//   std::string svg = plots::RenderLineChart(chart);
//
// Every drawn datum is one element that names itself, so tests (and curious users) can count and
// read them without parsing geometry:
//   <circle class="point" data-series="imagenet" data-label="run-a/step_1000.pt"
//           data-x="1000" data-y="71.2" ...><title>...</title></circle>
//   <g class="flag" data-kind="regression" data-series="sketch" data-label=... data-x data-y>
//   <polyline class="fit" data-slope=... data-intercept=...>        (scatter only)
// The root <svg> carries data-kind ("line" or "scatter") and data-points (points drawn). Points
// with a non-finite coordinate are left out (and counted in data-skipped); with nothing to draw
// the chart says "no data". All text is XML-escaped (svg.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tw::plots {

struct Point {
  double x = 0;
  double y = 0;
  std::string label;  // what the point is ("run/step_2000.pt"); shown in its tooltip
};

struct Series {
  std::string name;           // legend text ("imagenet")
  std::vector<Point> points;  // drawn in this order, joined by a line
};

// A flag on a line chart: a symbol on series `series` at (x, y).
struct Marker {
  std::string series;
  double x = 0;
  double y = 0;
  std::string kind;    // "regression" (red, pointing down) or anything else (amber diamond)
  std::string detail;  // the tooltip: what was flagged, with its numbers
  std::string label;   // the flagged checkpoint
};

struct LineChart {
  std::string id = "line";  // prefix of element ids; unique per page when several are inlined
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  std::vector<Marker> markers;
  int width = 760;
  int height = 420;
};

std::string RenderLineChart(const LineChart& chart);

struct ScatterPoint {
  double x = 0;
  double y = 0;
  std::string label;
  std::string group;         // legend group ("imported models", "checkpoints"); one colour each
  bool highlighted = false;  // drawn larger, on top, in the highlight colour
};

// The effective-robustness fit of analysis/pool_report.h, in its own (logit) space:
// logit(y / 100) = slope * logit(x / 100) + intercept, accuracies in percent. Drawn by sampling
// y = 100 * sigmoid(slope * logit(x / 100) + intercept) across the x axis.
struct LogitFit {
  double slope = 1;
  double intercept = 0;
};

struct ScatterPlot {
  std::string id = "scatter";
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ScatterPoint> points;
  std::optional<LogitFit> fit;
  std::string highlight_name = "selected";  // legend text of the highlighted points
  bool diagonal = true;                     // draw y = x for orientation
  int width = 760;
  int height = 520;
};

std::string RenderScatter(const ScatterPlot& plot);

}  // namespace tw::plots
