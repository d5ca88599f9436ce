#include "dashboard/pages.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "api/http_server.h"
#include "common/time_util.h"
#include "plots/svg.h"

namespace tw::dashboard {
namespace {

using plots::FormatFixed;

std::string Esc(std::string_view text) { return plots::XmlEscape(text); }

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
nav{background:#263238;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:center}
nav a{color:#fff;text-decoration:none}nav .brand{font-weight:bold}
nav form{margin-left:auto}nav button{background:none;border:1px solid #90a4ae;color:#fff;
border-radius:3px;cursor:pointer}
main{padding:12px 24px;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 20px;background:#fff;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#eceff1}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto}
.regression{color:#c62828;font-weight:bold}.no-transfer{color:#b26a00}
.muted{color:#777}.chart{background:#fff;border:1px solid #ddd;display:inline-block}
.error{color:#c62828}form.inline{display:inline}label{margin-right:12px}
)";

std::string Head(std::string_view title) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<link rel=\"icon\" href=\"data:,\">"
         "<title>" +
         Esc(title) + " - TransferWatch</title><style>" + kStyle + "</style></head>\n";
}

std::string Frame(const PageContext& context, std::string_view title, const std::string& body) {
  std::string page = Head(title);
  page +=
      "<body><nav><a class=\"brand\" href=\"/\">TransferWatch</a><a href=\"/\">runs</a>"
      "<a href=\"/flags\">flags</a><a href=\"/scatter\">scatter</a>";
  if (context.sessions) {
    page +=
        "<form method=\"post\" action=\"/logout\"><button type=\"submit\">log out</button></form>";
  }
  page += "</nav>\n<main>\n" + body + "</main></body></html>\n";
  return page;
}

std::string RunLink(const std::string& run) {
  return "<a href=\"/runs/" + api::PercentEncode(run) + "\">" + Esc(run) + "</a>";
}

std::string ScatterHref(const std::string& variant, const std::optional<std::string>& run) {
  std::string href = "/scatter?variant=" + api::PercentEncode(variant);
  if (run) href += "&amp;run=" + api::PercentEncode(*run);
  return href;
}

std::string Num(double value, int decimals) {
  return "<td class=\"num\">" + FormatFixed(value, decimals) + "</td>";
}

// p-values span many orders of magnitude: four decimals, or two significant digits below 0.001.
std::string PValue(double p) {
  if (p >= 0.001 || p == 0) return FormatFixed(p, 4);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1e", p);
  return buffer;
}

std::string Signed(double value, int decimals) {
  std::string text = FormatFixed(value, decimals);
  return text.front() == '-' ? text : "+" + text;
}

std::string Kinds(const std::vector<std::string>& kinds) {
  std::string out;
  for (const auto& k : kinds) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// The run part of a checkpoint's display name "RUN/FILE".
std::optional<std::string> RunOf(const std::string& display_name) {
  const size_t slash = display_name.find('/');
  if (slash == std::string::npos) return std::nullopt;
  return display_name.substr(0, slash);
}

std::string FlagsTable(const std::vector<TransferCheckInfo>& flags) {
  if (flags.empty()) return "<p class=\"muted\">No flags.</p>\n";
  std::ostringstream out;
  out << "<div class=\"scroll\"><table class=\"flags\"><thead><tr><th rowspan=\"2\">id</th>"
         "<th rowspan=\"2\">kind</th><th rowspan=\"2\">checkpoint</th>"
         "<th rowspan=\"2\">compared with</th><th colspan=\"6\">variant</th>"
         "<th colspan=\"5\">its reference dataset</th><th rowspan=\"2\">acknowledged</th>"
         "<th rowspan=\"2\">raised</th></tr>\n<tr><th>dataset</th><th>&Delta; points</th>"
         "<th>95% CI</th><th>p</th><th>p Holm</th><th>n (new / old only)</th><th>dataset</th>"
         "<th>&Delta; points</th><th>95% CI</th><th>p</th><th>n (new / old only)</th></tr>"
         "</thead><tbody>\n";
  for (const auto& f : flags) {
    const PairedNumbers& v = f.variant_numbers;
    const PairedNumbers& r = f.reference;
    const std::string run = RunOf(f.checkpoint).value_or("");
    out << "<tr class=\"flag-row\" data-kind=\"" << Esc(f.verdict) << "\"><td class=\"num\">"
        << f.id << "</td><td class=\"" << Esc(f.verdict) << "\">" << Esc(f.verdict) << "</td><td>"
        << (run.empty()
                ? Esc(f.checkpoint)
                : "<a href=\"/runs/" + api::PercentEncode(run) + "\">" + Esc(f.checkpoint) + "</a>")
        << "</td><td>" << Esc(f.reference_checkpoint) << " <span class=\"muted\">("
        << Esc(Kinds(f.reference_kinds)) << ")</span></td><td><a href=\""
        << ScatterHref(f.variant, RunOf(f.checkpoint)) << "\">" << Esc(f.variant) << "</a></td>"
        << "<td class=\"num\">" << Signed(v.delta, 2) << "</td><td class=\"num\">["
        << FormatFixed(v.ci_low, 2) << ", " << FormatFixed(v.ci_high, 2) << "]</td>"
        << "<td class=\"num\">" << PValue(v.p) << "</td><td class=\"num\">"
        << PValue(f.variant_p_holm) << " <span "
        << "class=\"muted\">(of " << f.holm_family_size << ")</span></td><td class=\"num\">" << v.n
        << " (" << v.only_new << " / " << v.only_old << ")</td><td>" << Esc(f.reference_dataset)
        << "</td><td class=\"num\">" << Signed(r.delta, 2) << "</td><td class=\"num\">["
        << FormatFixed(r.ci_low, 2) << ", " << FormatFixed(r.ci_high, 2)
        << "]</td><td class=\"num\">" << PValue(r.p) << "</td>"
        << "<td class=\"num\">" << r.n << " (" << r.only_new << " / " << r.only_old << ")</td><td>"
        << (f.acknowledged_at ? Esc(FormatIso8601Utc(*f.acknowledged_at)) : "no") << "</td><td>"
        << Esc(FormatIso8601Utc(f.created_at)) << "</td></tr>\n";
  }
  out << "</tbody></table></div>\n";
  return out.str();
}

std::string VariantLinks(const std::vector<DatasetInfo>& variants,
                         const std::optional<std::string>& run) {
  if (variants.empty()) {
    return "<p class=\"muted\">No dataset has a reference dataset yet, so there is no scatter "
           "to show.</p>\n";
  }
  std::string out = "<p>Scatter of each variant against its reference: ";
  bool first = true;
  for (const auto& v : variants) {
    if (!first) out += " &middot; ";
    first = false;
    out += "<a href=\"" + ScatterHref(v.name, run) + "\">" + Esc(v.name) + "</a>";
  }
  return out + "</p>\n";
}

std::string OptionalNumber(const std::optional<double>& value, int decimals) {
  return value ? FormatFixed(*value, decimals) : "&ndash;";
}

}  // namespace

std::string SafeNext(std::string_view next) {
  if (next.empty() || next.size() > 2048 || next.front() != '/') return "/";
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return "/";
  // A target as browsers send it: URL characters only (RFC 3986), everything else
  // percent-encoded. Anything else did not come from our own redirect.
  static constexpr std::string_view kUrlPunctuation = "-._~:/?#[]@!$&'()*+,;=%";
  for (char c : next) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    kUrlPunctuation.find(c) != std::string_view::npos;
    if (!ok) return "/";
  }
  if (next.substr(0, 6) == "/login" && (next.size() == 6 || next[6] == '?')) return "/";
  return std::string(next);
}

std::string IndexPage(const PageContext& context, const std::vector<RunOverview>& runs,
                      const std::vector<TransferCheckInfo>& latest_flags,
                      const std::vector<DatasetInfo>& variants) {
  std::ostringstream body;
  body << "<h1>Runs</h1>\n";
  if (runs.empty()) {
    body << "<p class=\"muted\">No runs yet: transferwatchd registers the checkpoint files it "
            "finds under its watch roots, one run per folder.</p>\n";
  } else {
    body << "<table class=\"runs\"><thead><tr><th>run</th><th>checkpoints</th>"
            "<th>evaluations</th><th>latest step</th><th>last checkpoint</th></tr></thead>"
            "<tbody>\n";
    for (const auto& r : runs) {
      body << "<tr class=\"run-row\"><td>" << RunLink(r.run) << "</td><td class=\"num\">"
           << r.checkpoints << "</td><td class=\"num\">" << r.evaluations
           << "</td><td class=\"num\">"
           << (r.latest_step ? std::to_string(*r.latest_step) : "&ndash;") << "</td><td>"
           << Esc(FormatIso8601Utc(r.last_checkpoint_at)) << "</td></tr>\n";
    }
    body << "</tbody></table>\n";
  }
  body << "<h2>Latest flags</h2>\n" << FlagsTable(latest_flags);
  body << "<p><a href=\"/flags\">all flags</a></p>\n";
  body << "<h2>Variants</h2>\n" << VariantLinks(variants, std::nullopt);
  return Frame(context, "runs", body.str());
}

std::string RunPage(const PageContext& context, const RunProgress& progress,
                    const std::string& chart_svg, const std::vector<DatasetInfo>& variants) {
  std::ostringstream body;
  body << "<h1>Run " << Esc(progress.run) << "</h1>\n";
  body << "<div class=\"chart\">" << chart_svg << "</div>\n";
  body << VariantLinks(variants, progress.run);
  body << "<h2>Checkpoints</h2>\n<table class=\"checkpoints\"><thead><tr><th>checkpoint</th>"
          "<th>step</th><th>epoch</th><th>registered</th><th>evaluations</th>";
  for (const auto& d : progress.datasets) body << "<th>" << Esc(d) << " top-1</th>";
  body << "</tr></thead><tbody>\n";
  for (const auto& c : progress.checkpoints) {
    body << "<tr class=\"checkpoint-row\"><td>" << Esc(c.checkpoint.display_name)
         << "</td><td class=\"num\">"
         << (c.checkpoint.step ? std::to_string(*c.checkpoint.step) : "&ndash;")
         << "</td><td class=\"num\">"
         << (c.checkpoint.epoch ? plots::FormatValue(*c.checkpoint.epoch) : "&ndash;")
         << "</td><td>" << Esc(FormatIso8601Utc(c.checkpoint.created_at))
         << "</td><td class=\"num\">" << c.checkpoint.evaluations << "</td>";
    for (const auto& d : progress.datasets) {
      auto it = c.top1.find(d);
      if (it == c.top1.end()) {
        body << "<td class=\"num muted\">&ndash;</td>";
      } else {
        body << Num(it->second, 2);
      }
    }
    body << "</tr>\n";
  }
  body << "</tbody></table>\n<h2>Flags</h2>\n" << FlagsTable(progress.flags);
  return Frame(context, "run " + progress.run, body.str());
}

std::string ScatterPage(const PageContext& context, const VariantPool& pool,
                        const std::string& scatter_svg, const std::vector<DatasetInfo>& variants,
                        const std::vector<RunOverview>& runs) {
  std::ostringstream body;
  body << "<h1>" << Esc(pool.variant) << " vs " << Esc(pool.reference) << "</h1>\n";
  body << "<form method=\"get\" action=\"/scatter\"><label>variant <select name=\"variant\">";
  for (const auto& v : variants) {
    body << "<option value=\"" << Esc(v.name) << "\"" << (v.name == pool.variant ? " selected" : "")
         << ">" << Esc(v.name) << "</option>";
  }
  body << "</select></label><label>highlight run <select name=\"run\"><option value=\"\">"
          "(none)</option>";
  for (const auto& r : runs) {
    body << "<option value=\"" << Esc(r.run) << "\"" << (pool.run == r.run ? " selected" : "")
         << ">" << Esc(r.run) << "</option>";
  }
  body << "</select></label><button type=\"submit\">show</button></form>\n";
  body << "<div class=\"chart\">" << scatter_svg << "</div>\n";
  const analysis::VariantStats& s = pool.stats;
  body << "<h2>Pool</h2>\n<table class=\"stats\"><tbody>"
       << "<tr><th>models and checkpoints (n)</th><td class=\"num\">" << s.n << "</td></tr>"
       << "<tr><th>Kendall &tau;-b</th><td class=\"num\">" << OptionalNumber(s.kendall_tau_b, 3)
       << "</td></tr><tr><th>Spearman &rho;</th><td class=\"num\">"
       << OptionalNumber(s.spearman_rho, 3) << "</td></tr><tr><th>rank flips</th>"
       << "<td class=\"num\">" << s.flips << " of " << s.eligible_pairs << " pairs</td></tr>"
       << "<tr><th>effective-robustness fit (logit)</th><td class=\"num\">";
  if (s.er_slope && s.er_intercept) {
    body << "slope " << FormatFixed(*s.er_slope, 3) << ", intercept "
         << FormatFixed(*s.er_intercept, 3);
  } else {
    body << "&ndash; (needs two entries with different reference accuracies)";
  }
  body << "</td></tr></tbody></table>\n";
  if (pool.run) {
    body << "<h2>Run " << Esc(*pool.run) << " in this pool</h2>\n";
    // Residuals are keyed by (model, image size), like the pool's rows.
    std::map<std::pair<std::string, int>, double> residual;
    for (const auto& r : s.residuals) residual[{r.model, r.img_size}] = r.residual;
    std::ostringstream rows;
    int count = 0;
    for (const auto& row : pool.rows) {
      if (row.origin != "file" || row.run != pool.run) continue;
      ++count;
      auto it = residual.find({row.checkpoint, row.img_size.value_or(0)});
      rows << "<tr class=\"selected-row\"><td>" << Esc(row.checkpoint) << "</td>"
           << Num(row.reference, 2) << Num(row.variant, 2) << "<td class=\"num\">"
           << (it == residual.end() ? "&ndash;" : Signed(it->second, 2)) << "</td></tr>\n";
    }
    if (count == 0) {
      body << "<p class=\"muted\">No checkpoint of this run has results on both "
           << Esc(pool.variant) << " and " << Esc(pool.reference) << ".</p>\n";
    } else {
      body << "<table class=\"selected\"><thead><tr><th>checkpoint</th><th>" << Esc(pool.reference)
           << " top-1</th><th>" << Esc(pool.variant)
           << " top-1</th><th>effective robustness (points)</th></tr></thead><tbody>\n"
           << rows.str() << "</tbody></table>\n";
    }
  }
  return Frame(context, pool.variant + " vs " + pool.reference, body.str());
}

std::string NoVariantsPage(const PageContext& context) {
  return Frame(context, "scatter",
               "<h1>Scatter</h1>\n" + VariantLinks({}, std::nullopt) +
                   "<p>Register a variant with <code>transferwatch dataset add NAME DIR "
                   "--reference imagenet</code>, or import published results.</p>\n");
}

std::string FlagsPage(const PageContext& context, const std::vector<TransferCheckInfo>& flags,
                      const std::optional<std::string>& run) {
  std::string body = "<h1>Flags" + (run ? " of run " + Esc(*run) : std::string()) + "</h1>\n";
  body +=
      "<p class=\"muted\">Each row is a paired comparison of a checkpoint with an earlier one on "
      "the same images: &Delta; is new minus old in percentage points, the interval a 95% "
      "score interval, p McNemar's exact test (the variant's Holm-corrected over the "
      "comparison's variants), n the images compared.</p>\n";
  body += FlagsTable(flags);
  return Frame(context, "flags", body);
}

std::string LoginPage(std::string_view next, std::string_view error) {
  std::string body = Head("log in");
  body += "<body><nav><span class=\"brand\">TransferWatch</span></nav><main><h1>Log in</h1>\n";
  if (!error.empty()) body += "<p class=\"error\">" + Esc(error) + "</p>\n";
  body += "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"" +
          Esc(SafeNext(next)) +
          "\"><label>API token <input type=\"password\" name=\"token\" "
          "autocomplete=\"current-password\" required autofocus></label>"
          "<button type=\"submit\">log in</button></form>\n"
          "<p class=\"muted\">The token in the daemon's <code>api.token_file</code>. The browser "
          "keeps a session cookie, not the token.</p></main></body></html>\n";
  return body;
}

std::string ErrorPage(const PageContext& context, int status, std::string_view message) {
  return Frame(
      context, "error",
      "<h1>" + std::to_string(status) + "</h1>\n<p class=\"error\">" + Esc(message) + "</p>\n");
}

}  // namespace tw::dashboard
