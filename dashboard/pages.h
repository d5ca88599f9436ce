// The dashboard's HTML, rendered on the server from what reports/plot_data.h reads: plain
// functions from data to a complete page. No script at all (the Content-Security-Policy of
// api/http_server.h forbids it), a little inline CSS, charts as inline SVG from plots/.
// Every name from the store (runs, checkpoints, datasets) is escaped; links percent-encode it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reports/plot_data.h"
#include "store/model.h"

namespace tw::dashboard {

// What every page's frame needs to know.
struct PageContext {
  bool sessions = false;  // the server has a token: show the "log out" button
};

// Runs with their checkpoint counts, the latest flags, the variants one can plot.
std::string IndexPage(const PageContext& context, const std::vector<RunOverview>& runs,
                      const std::vector<TransferCheckInfo>& latest_flags,
                      const std::vector<DatasetInfo>& variants);

// The run's accuracy chart (`chart_svg`, from RunProgressChart), its checkpoints with their
// top-1 per dataset, its flags, and links to the scatter of each variant with the run selected.
std::string RunPage(const PageContext& context, const RunProgress& progress,
                    const std::string& chart_svg, const std::vector<DatasetInfo>& variants);

// A variant chooser (GET form), the scatter (`scatter_svg`), the pool's statistics and the
// selected run's checkpoints with their effective robustness.
std::string ScatterPage(const PageContext& context, const VariantPool& pool,
                        const std::string& scatter_svg, const std::vector<DatasetInfo>& variants,
                        const std::vector<RunOverview>& runs);
// The scatter page when no dataset has a reference yet.
std::string NoVariantsPage(const PageContext& context);

// Every flag with its numbers: deltas, confidence intervals, p-values, n.
std::string FlagsPage(const PageContext& context, const std::vector<TransferCheckInfo>& flags,
                      const std::optional<std::string>& run);

// The login form; `next` goes back in a hidden field, `error` is shown above the form.
std::string LoginPage(std::string_view next, std::string_view error);

std::string ErrorPage(const PageContext& context, int status, std::string_view message);

// Where to go after logging in: `next` when it is a path on this server ("/runs/a?x=1"),
// otherwise "/". Refuses absolute and scheme-relative URLs ("//evil", "/\\evil"), anything but
// URL characters (RFC 3986; the rest arrives percent-encoded) and the login page itself.
std::string SafeNext(std::string_view next);

}  // namespace tw::dashboard
