#include "plots/charts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "analysis/rank_stats.h"
#include "common/utf8.h"
#include "plots/svg.h"

namespace tw::plots {
namespace {

// Tableau 10: distinguishable, and readable on white and in greyscale print.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948",
                                    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#e15759"};
constexpr const char* kRegressionColour = "#d62728";
constexpr const char* kNoteColour = "#e6a700";
constexpr const char* kHighlightColour = "#d62728";
constexpr const char* kFitColour = "#222222";
constexpr int kLegendWidth = 200;
constexpr size_t kLegendChars = 30;  // longer names are cut in the legend (whole in its tooltip)
constexpr int kFitSamples = 120;

const char* Colour(size_t index) { return kPalette[index % (sizeof kPalette / sizeof *kPalette)]; }

bool Finite(double x, double y) { return std::isfinite(x) && std::isfinite(y); }

// The data's extent over the finite points, and how many points are drawn and skipped.
struct Extent {
  size_t drawn = 0, skipped = 0;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  void Add(double x, double y) {
    if (!Finite(x, y)) {
      ++skipped;
      return;
    }
    ++drawn;
    x_lo = std::min(x_lo, x);
    x_hi = std::max(x_hi, x);
    y_lo = std::min(y_lo, y);
    y_hi = std::max(y_hi, y);
  }
};

// Element ids must be unique in a page that inlines several charts, and ours must not carry
// markup: only [A-Za-z0-9_-] survive.
std::string SafeId(const std::string& id) {
  std::string out;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "plot" : out;
}

std::string Px(double v) { return FormatFixed(v, 2); }

// The plot area in pixels and the data ranges mapped onto it.
struct Frame {
  double left = 0, top = 0, right = 0, bottom = 0;
  Ticks x, y;
  double X(double value) const { return left + (value - x.lo) / (x.hi - x.lo) * (right - left); }
  double Y(double value) const { return bottom - (value - y.lo) / (y.hi - y.lo) * (bottom - top); }
};

Frame MakeFrame(int width, int height, double x_lo, double x_hi, double y_lo, double y_hi) {
  Frame frame;
  frame.left = 64;
  frame.top = 40;
  frame.right = std::max(frame.left + 80.0, static_cast<double>(width - kLegendWidth - 16));
  frame.bottom = std::max(frame.top + 80.0, static_cast<double>(height - 52));
  frame.x = NiceTicks(x_lo, x_hi, 6);
  frame.y = NiceTicks(y_lo, y_hi, 6);
  return frame;
}

void OpenSvg(std::ostringstream& out, int width, int height, const std::string& kind,
             const std::string& title, size_t points, size_t skipped) {
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" class=\"tw-plot\" data-kind=\""
      << kind << "\" data-points=\"" << points << "\" data-skipped=\"" << skipped
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out << "<title>" << XmlEscape(title) << "</title>\n";
  out << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << height
      << "\" fill=\"#ffffff\"/>\n";
  out << "<text class=\"chart-title\" x=\"" << 64 << "\" y=\"22\" font-size=\"15\" "
      << "font-weight=\"bold\" fill=\"#222222\">" << XmlEscape(title) << "</text>\n";
}

// Grid, tick labels, the frame and the axis titles; defines the clip path "<id>-clip".
void DrawAxes(std::ostringstream& out, const Frame& f, const std::string& id,
              const std::string& x_label, const std::string& y_label) {
  out << "<defs><clipPath id=\"" << id << "-clip\"><rect x=\"" << Px(f.left) << "\" y=\""
      << Px(f.top) << "\" width=\"" << Px(f.right - f.left) << "\" height=\""
      << Px(f.bottom - f.top) << "\"/></clipPath></defs>\n";
  out << "<g class=\"grid\" stroke=\"#e5e5e5\" stroke-width=\"1\">\n";
  for (double v : f.x.values) {
    out << "<line x1=\"" << Px(f.X(v)) << "\" y1=\"" << Px(f.top) << "\" x2=\"" << Px(f.X(v))
        << "\" y2=\"" << Px(f.bottom) << "\"/>\n";
  }
  for (double v : f.y.values) {
    out << "<line x1=\"" << Px(f.left) << "\" y1=\"" << Px(f.Y(v)) << "\" x2=\"" << Px(f.right)
        << "\" y2=\"" << Px(f.Y(v)) << "\"/>\n";
  }
  out << "</g>\n<g class=\"ticks\" fill=\"#444444\">\n";
  for (double v : f.x.values) {
    out << "<text class=\"x-tick\" x=\"" << Px(f.X(v)) << "\" y=\"" << Px(f.bottom + 16)
        << "\" text-anchor=\"middle\">" << FormatFixed(v, f.x.decimals) << "</text>\n";
  }
  for (double v : f.y.values) {
    out << "<text class=\"y-tick\" x=\"" << Px(f.left - 6) << "\" y=\"" << Px(f.Y(v) + 4)
        << "\" text-anchor=\"end\">" << FormatFixed(v, f.y.decimals) << "</text>\n";
  }
  out << "</g>\n";
  out << "<rect class=\"frame\" x=\"" << Px(f.left) << "\" y=\"" << Px(f.top) << "\" width=\""
      << Px(f.right - f.left) << "\" height=\"" << Px(f.bottom - f.top)
      << "\" fill=\"none\" stroke=\"#888888\"/>\n";
  out << "<text class=\"x-label\" x=\"" << Px((f.left + f.right) / 2) << "\" y=\""
      << Px(f.bottom + 38) << "\" text-anchor=\"middle\" fill=\"#222222\">" << XmlEscape(x_label)
      << "</text>\n";
  out << "<text class=\"y-label\" x=\"16\" y=\"" << Px((f.top + f.bottom) / 2)
      << "\" text-anchor=\"middle\" fill=\"#222222\" transform=\"rotate(-90 16 "
      << Px((f.top + f.bottom) / 2) << ")\">" << XmlEscape(y_label) << "</text>\n";
}

void DrawNoData(std::ostringstream& out, int width, int height) {
  out << "<text class=\"empty\" x=\"" << width / 2 << "\" y=\"" << height / 2
      << "\" text-anchor=\"middle\" fill=\"#666666\" font-size=\"14\">no data</text>\n";
}

// Legend rows to the right of the plot area; `swatch` draws the symbol at (x, y).
class Legend {
 public:
  Legend(std::ostringstream& out, const Frame& f) : out_(out), x_(f.right + 16), y_(f.top + 8) {
    out_ << "<g class=\"legend\">\n";
  }
  ~Legend() { out_ << "</g>\n"; }
  Legend(const Legend&) = delete;
  Legend& operator=(const Legend&) = delete;

  template <typename Swatch>
  void Row(const std::string& text, Swatch swatch) {
    out_ << "<g class=\"legend-item\"><title>" << XmlEscape(text) << "</title>";
    swatch(x_ + 8, y_);
    out_ << "<text x=\"" << Px(x_ + 22) << "\" y=\"" << Px(y_ + 4) << "\" fill=\"#222222\">"
         << XmlEscape(TruncateUtf8(text, kLegendChars)) << "</text></g>\n";
    y_ += 18;
  }

 private:
  std::ostringstream& out_;
  double x_, y_;
};

std::string DownTriangle(double x, double y) {
  // Above the point, pointing at it.
  return "M" + Px(x - 6) + " " + Px(y - 17) + " L" + Px(x + 6) + " " + Px(y - 17) + " L" + Px(x) +
         " " + Px(y - 6) + " Z";
}

std::string Diamond(double x, double y) {
  return "M" + Px(x) + " " + Px(y - 18) + " L" + Px(x + 5) + " " + Px(y - 12) + " L" + Px(x) + " " +
         Px(y - 6) + " L" + Px(x - 5) + " " + Px(y - 12) + " Z";
}

void DrawMarkerShape(std::ostringstream& out, const std::string& kind, double x, double y) {
  if (kind == "regression") {
    out << "<path d=\"" << DownTriangle(x, y) << "\" fill=\"" << kRegressionColour
        << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
  } else {
    out << "<path d=\"" << Diamond(x, y) << "\" fill=\"" << kNoteColour
        << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
  }
}

}  // namespace

std::string RenderLineChart(const LineChart& chart) {
  const std::string id = SafeId(chart.id);
  Extent extent;
  for (const Series& s : chart.series) {
    for (const Point& p : s.points) extent.Add(p.x, p.y);
  }
  std::ostringstream out;
  OpenSvg(out, chart.width, chart.height, "line", chart.title, extent.drawn, extent.skipped);
  if (extent.drawn == 0) {
    DrawNoData(out, chart.width, chart.height);
    out << "</svg>\n";
    return out.str();
  }
  const Frame f =
      MakeFrame(chart.width, chart.height, extent.x_lo, extent.x_hi, extent.y_lo, extent.y_hi);
  DrawAxes(out, f, id, chart.x_label, chart.y_label);

  std::map<std::string, size_t> colour_of;  // series name -> palette index
  for (size_t i = 0; i < chart.series.size(); ++i) colour_of.emplace(chart.series[i].name, i);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const std::string name = XmlEscape(s.name);
    out << "<g class=\"series\" data-series=\"" << name << "\">\n";
    // One polyline per run of finite points: a gap where a value is missing.
    std::string line;
    size_t in_line = 0;
    auto flush = [&] {
      if (in_line >= 2) {
        out << "<polyline class=\"series-line\" fill=\"none\" stroke=\"" << Colour(i)
            << "\" stroke-width=\"2\" clip-path=\"url(#" << id << "-clip)\" points=\"" << line
            << "\"/>\n";
      }
      line.clear();
      in_line = 0;
    };
    for (const Point& p : s.points) {
      if (!Finite(p.x, p.y)) {
        flush();
        continue;
      }
      if (!line.empty()) line += ' ';
      line += Px(f.X(p.x)) + "," + Px(f.Y(p.y));
      ++in_line;
    }
    flush();
    for (const Point& p : s.points) {
      if (!Finite(p.x, p.y)) continue;
      out << "<circle class=\"point\" data-series=\"" << name << "\" data-label=\""
          << XmlEscape(p.label) << "\" data-x=\"" << FormatValue(p.x) << "\" data-y=\""
          << FormatValue(p.y) << "\" cx=\"" << Px(f.X(p.x)) << "\" cy=\"" << Px(f.Y(p.y))
          << "\" r=\"3.5\" fill=\"" << Colour(i) << "\"><title>"
          << XmlEscape(s.name + " · " + p.label + "\n" + chart.x_label + " " + FormatValue(p.x) +
                       ": " + FormatValue(p.y))
          << "</title></circle>\n";
    }
    out << "</g>\n";
  }
  bool any_regression = false, any_note = false;
  for (const Marker& m : chart.markers) {
    if (!Finite(m.x, m.y)) continue;
    (m.kind == "regression" ? any_regression : any_note) = true;
    out << "<g class=\"flag\" data-kind=\"" << XmlEscape(m.kind) << "\" data-series=\""
        << XmlEscape(m.series) << "\" data-label=\"" << XmlEscape(m.label) << "\" data-x=\""
        << FormatValue(m.x) << "\" data-y=\"" << FormatValue(m.y) << "\"><title>"
        << XmlEscape(m.detail.empty() ? m.kind + ": " + m.label : m.detail) << "</title>";
    DrawMarkerShape(out, m.kind, f.X(m.x), f.Y(m.y));
    out << "</g>\n";
  }
  {
    Legend legend(out, f);
    for (size_t i = 0; i < chart.series.size(); ++i) {
      legend.Row(chart.series[i].name, [&](double x, double y) {
        out << "<line x1=\"" << Px(x - 8) << "\" y1=\"" << Px(y) << "\" x2=\"" << Px(x + 8)
            << "\" y2=\"" << Px(y) << "\" stroke=\"" << Colour(i) << "\" stroke-width=\"2\"/>"
            << "<circle cx=\"" << Px(x) << "\" cy=\"" << Px(y) << "\" r=\"3.5\" fill=\""
            << Colour(i) << "\"/>";
      });
    }
    if (any_regression) {
      legend.Row("regression flag",
                 [&](double x, double y) { DrawMarkerShape(out, "regression", x, y + 11); });
    }
    if (any_note) {
      legend.Row("no-transfer note",
                 [&](double x, double y) { DrawMarkerShape(out, "no-transfer", x, y + 12); });
    }
  }
  out << "</svg>\n";
  return out.str();
}

std::string RenderScatter(const ScatterPlot& plot) {
  const std::string id = SafeId(plot.id);
  Extent extent;
  for (const ScatterPoint& p : plot.points) extent.Add(p.x, p.y);
  std::ostringstream out;
  OpenSvg(out, plot.width, plot.height, "scatter", plot.title, extent.drawn, extent.skipped);
  if (extent.drawn == 0) {
    DrawNoData(out, plot.width, plot.height);
    out << "</svg>\n";
    return out.str();
  }
  const Frame f =
      MakeFrame(plot.width, plot.height, extent.x_lo, extent.x_hi, extent.y_lo, extent.y_hi);
  DrawAxes(out, f, id, plot.x_label, plot.y_label);

  // y = x where the two ranges overlap: above it a model does better on the variant.
  const double d_lo = std::max(f.x.lo, f.y.lo), d_hi = std::min(f.x.hi, f.y.hi);
  const bool diagonal = plot.diagonal && d_lo < d_hi;
  if (diagonal) {
    out << "<line class=\"diagonal\" x1=\"" << Px(f.X(d_lo)) << "\" y1=\"" << Px(f.Y(d_lo))
        << "\" x2=\"" << Px(f.X(d_hi)) << "\" y2=\"" << Px(f.Y(d_hi))
        << "\" stroke=\"#aaaaaa\" stroke-dasharray=\"4 4\"/>\n";
  }
  const bool fit = plot.fit && std::isfinite(plot.fit->slope) && std::isfinite(plot.fit->intercept);
  if (fit) {
    // The fit is a straight line in logit space; sampled, it is a curve in percent.
    std::string points;
    for (int i = 0; i <= kFitSamples; ++i) {
      const double x = f.x.lo + (f.x.hi - f.x.lo) * i / kFitSamples;
      const double p = analysis::ClampProbability(x / 100.0);
      const double y =
          100.0 * analysis::Sigmoid(plot.fit->slope * analysis::Logit(p) + plot.fit->intercept);
      if (!points.empty()) points += ' ';
      points += Px(f.X(x)) + "," + Px(f.Y(y));
    }
    out << "<polyline class=\"fit\" data-slope=\"" << FormatValue(plot.fit->slope)
        << "\" data-intercept=\"" << FormatValue(plot.fit->intercept)
        << "\" fill=\"none\" stroke=\"" << kFitColour << "\" stroke-width=\"1.5\" clip-path=\"url(#"
        << id << "-clip)\" points=\"" << points << "\"/>\n";
  }

  std::vector<std::string> groups;  // in order of first appearance
  for (const ScatterPoint& p : plot.points) {
    if (std::find(groups.begin(), groups.end(), p.group) == groups.end()) {
      groups.push_back(p.group);
    }
  }
  auto group_index = [&](const std::string& g) {
    return static_cast<size_t>(std::find(groups.begin(), groups.end(), g) - groups.begin());
  };
  bool any_highlight = false;
  // Highlighted points last, so that they are drawn on top.
  for (int pass = 0; pass < 2; ++pass) {
    const bool highlighted = pass == 1;
    out << "<g class=\"" << (highlighted ? "highlighted" : "pool") << "\">\n";
    for (const ScatterPoint& p : plot.points) {
      if (p.highlighted != highlighted || !Finite(p.x, p.y)) continue;
      any_highlight |= highlighted;
      const char* colour = highlighted ? kHighlightColour : Colour(group_index(p.group));
      out << "<circle class=\"point\" data-group=\"" << XmlEscape(p.group)
          << "\" data-highlighted=\"" << (highlighted ? "true" : "false") << "\" data-label=\""
          << XmlEscape(p.label) << "\" data-x=\"" << FormatValue(p.x) << "\" data-y=\""
          << FormatValue(p.y) << "\" cx=\"" << Px(f.X(p.x)) << "\" cy=\"" << Px(f.Y(p.y))
          << "\" r=\"" << (highlighted ? "5" : "3.5") << "\" fill=\"" << colour << "\""
          << (highlighted ? " stroke=\"#ffffff\" stroke-width=\"1.5\"" : " fill-opacity=\"0.75\"")
          << "><title>"
          << XmlEscape(p.label + "\n" + plot.x_label + ": " + FormatValue(p.x) + "\n" +
                       plot.y_label + ": " + FormatValue(p.y))
          << "</title></circle>\n";
    }
    out << "</g>\n";
  }
  {
    Legend legend(out, f);
    for (size_t i = 0; i < groups.size(); ++i) {
      bool has_plain = false;
      for (const ScatterPoint& p : plot.points) {
        has_plain |= p.group == groups[i] && !p.highlighted && Finite(p.x, p.y);
      }
      if (!has_plain) continue;
      legend.Row(groups[i], [&](double x, double y) {
        out << "<circle cx=\"" << Px(x) << "\" cy=\"" << Px(y) << "\" r=\"3.5\" fill=\""
            << Colour(i) << "\"/>";
      });
    }
    if (any_highlight) {
      legend.Row(plot.highlight_name, [&](double x, double y) {
        out << "<circle cx=\"" << Px(x) << "\" cy=\"" << Px(y) << "\" r=\"5\" fill=\""
            << kHighlightColour << "\"/>";
      });
    }
    if (fit) {
      legend.Row("effective-robustness fit", [&](double x, double y) {
        out << "<line x1=\"" << Px(x - 8) << "\" y1=\"" << Px(y) << "\" x2=\"" << Px(x + 8)
            << "\" y2=\"" << Px(y) << "\" stroke=\"" << kFitColour << "\" stroke-width=\"1.5\"/>";
      });
    }
    if (diagonal) {
      legend.Row("y = x", [&](double x, double y) {
        out << "<line x1=\"" << Px(x - 8) << "\" y1=\"" << Px(y) << "\" x2=\"" << Px(x + 8)
            << "\" y2=\"" << Px(y) << "\" stroke=\"#aaaaaa\" stroke-dasharray=\"4 4\"/>";
      });
    }
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace tw::plots
