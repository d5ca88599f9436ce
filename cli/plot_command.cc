#include "cli/plot_command.h"

#include <algorithm>

#include "common/file_util.h"
#include "plots/charts.h"
#include "reports/plot_data.h"

namespace tw::cli {
namespace {

// A standalone file is parsed as XML (browsers, Inkscape, LaTeX's svg package): say so.
constexpr const char* kXmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

}  // namespace

std::string FileNamePart(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out.front() == '.') out.insert(out.begin(), '_');
  return out;
}

Status PlotCommand(CommandContext& ctx, const PlotOptions& options) {
  if (options.format != "svg") {
    return InvalidArgumentError("--format: plot writes svg only, not '" + options.format + "'");
  }
  if (options.out_dir.empty()) return InvalidArgumentError("--out must not be empty");
  TW_ASSIGN_OR_RETURN(RunProgress progress, LoadRunProgress(ctx.store, options.run));

  std::vector<std::string> variants = options.variants;
  if (variants.empty()) {
    TW_ASSIGN_OR_RETURN(auto all, ListVariants(ctx.store));
    for (const auto& v : all) variants.push_back(v.name);
  }
  struct Plot {
    std::string path;
    std::string kind;
    std::string subject;
    std::string svg;
    int points = 0;
  };
  std::vector<Plot> plots;
  {
    const plots::LineChart chart = RunProgressChart(progress);
    int points = 0;
    for (const auto& s : chart.series) points += static_cast<int>(s.points.size());
    plots.push_back({options.out_dir + "/run-" + FileNamePart(options.run) + "-accuracy.svg",
                     "accuracy", options.run, plots::RenderLineChart(chart), points});
  }
  for (const std::string& variant : variants) {
    TW_ASSIGN_OR_RETURN(VariantPool pool, LoadVariantPool(ctx.store, variant, options.run));
    const bool has_run = std::any_of(pool.rows.begin(), pool.rows.end(), [&](const PoolRow& r) {
      return r.origin == "file" && r.run == options.run;
    });
    // Asked for by name: always written. Chosen by default: only where the run shows up.
    if (options.variants.empty() && !has_run) continue;
    plots.push_back({options.out_dir + "/scatter-" + FileNamePart(variant) + ".svg", "scatter",
                     variant, plots::RenderScatter(VariantPoolScatter(pool)),
                     static_cast<int>(pool.rows.size())});
  }

  TW_RETURN_IF_ERROR(MakeDirs(options.out_dir));
  Listing listing;
  listing.list_name = "files";
  listing.columns = {{"path", "file"}, {"kind", "kind"}, {"subject", "of"}, {"points", "points"}};
  for (const Plot& p : plots) {
    TW_RETURN_IF_ERROR(WriteFileAtomic(p.path, kXmlDeclaration + p.svg));
    listing.rows.push_back({p.path, p.kind, p.subject, p.points});
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

}  // namespace tw::cli
