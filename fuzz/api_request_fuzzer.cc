// HTTP requests to transferwatchd as its handlers see them, minus the socket: the route table
// (api/router), the query parameters (numbers, globs, --since times and metric names the JSON
// routes take, common/ and store/metric_names), the Host check (api::IsLoopbackHost), the
// session cookie and bearer token (api/sessions), the login form body (api::ParseFormBody) and
// the JSON body of POST /v1/checkpoints (nlohmann's lenient parser, as daemon.cc calls it).
//
// The input is a request as it travels: "METHOD TARGET\r\nName: value\r\n...\r\n\r\nbody" (this
// file's split is deliberately simple; cpp-httplib's own parsing is not ours to fuzz).
//
// Invariants: the router's verdicts are consistent (a found route has the method asked for, or
// GET for HEAD; parameters are non-empty segments; paths with "." or ".." segments or NUL are
// bad); form bodies round-trip through PercentEncode; what ParseInt64/ParseDecimal accept
// prints back to the same number; ValidateGlob and GlobToPostgresRegex agree, and a pattern
// without metacharacters matches itself; a cookie this server minted is valid, any other text
// checked against it is not valid unless it is that cookie; JSON errors are JSON.
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.h"
#include "api/router.h"
#include "api/sessions.h"
#include "common/glob.h"
#include "common/numbers.h"
#include "common/time_util.h"
#include "fuzz/fuzz_check.h"
#include "store/metric_names.h"

namespace {

using tw::api::Router;

// The daemon's and the dashboard's route table (daemon/daemon.cc, dashboard/routes.cc).
const Router& Routes() {
  static const Router router = [] {
    auto ok = [](const tw::api::HttpRequest&) { return tw::api::JsonOk("{}"); };
    std::vector<tw::api::Route> routes;
    for (const char* get : {"/healthz", "/readyz", "/metrics", "/v1", "/v1/checkpoints",
                            "/v1/evaluations", "/v1/jobs", "/v1/flags", "/v1/report", "/v1/status",
                            "/v1/runs", "/", "/runs/{name}", "/scatter", "/flags", "/login"}) {
      routes.push_back({"GET", get, false, "", ok});
    }
    for (const char* post : {"/v1/checkpoints", "/login", "/logout"}) {
      routes.push_back({"POST", post, false, "", ok});
    }
    auto created = Router::Create(std::move(routes));
    if (!created.ok()) __builtin_trap();
    return *std::move(created);
  }();
  return router;
}

const tw::api::BrowserSessions& Sessions() {
  static const auto sessions = [] {
    auto created = tw::api::BrowserSessions::Create("s3cret-token");
    if (!created.ok()) __builtin_trap();
    return *std::move(created);
  }();
  return *sessions;
}

// As api/http_server.cc's HostWithoutPort.
std::string_view HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) return host.substr(0, colon);
  return host;
}

void CheckRoute(std::string_view method, const std::string& path) {
  const Router::Match match = Routes().Find(method, path);
  bool bad = path.empty() || path[0] != '/' || path.find('\0') != std::string::npos;
  if (!bad) {
    for (const std::string& segment : tw::api::SplitPath(path)) {
      if (segment == "." || segment == "..") bad = true;
    }
  }
  TW_FUZZ_CHECK(bad == (match.kind == Router::Match::Kind::kBadPath), "bad paths are refused");
  if (match.kind == Router::Match::Kind::kFound) {
    const std::string_view wanted = method == "HEAD" ? "GET" : method;
    TW_FUZZ_CHECK(match.route->method == wanted, "a found route has the method asked for");
    for (const auto& [name, value] : match.path_params) {
      TW_FUZZ_CHECK(!value.empty() && value.find('/') == std::string::npos,
                    "a parameter is one non-empty segment");
    }
  }
  if (match.kind == Router::Match::Kind::kMethodNotAllowed) {
    TW_FUZZ_CHECK(!match.allowed_methods.empty(), "405 lists the allowed methods");
  }
}

// Every query parser on every value: the routes' parameters reach these.
void CheckQueryValue(const std::string& value) {
  if (auto n = tw::ParseInt64(value); n.ok()) {
    auto again = tw::ParseInt64(std::to_string(*n));
    TW_FUZZ_CHECK(again.ok() && *again == *n, "integers print back");
  }
  if (auto n = tw::ParseInt(value); n.ok()) {
    auto wide = tw::ParseInt64(value);
    TW_FUZZ_CHECK(wide.ok() && *wide == *n, "ParseInt agrees with ParseInt64");
  }
  if (auto x = tw::ParseDecimal(value); x.ok()) {
    TW_FUZZ_CHECK(std::isfinite(*x), "decimals are finite");
    auto grouped = tw::ParseGroupedDecimal(value);
    TW_FUZZ_CHECK(grouped.ok() && *grouped == *x, "a plain decimal is a grouped one");
  }
  const tw::Status glob = tw::ValidateGlob(value);
  auto regex = tw::GlobToPostgresRegex(value);
  TW_FUZZ_CHECK(glob.ok() == regex.ok(), "ValidateGlob and GlobToPostgresRegex agree");
  if (glob.ok()) {
    if (!tw::HasGlobMeta(value)) TW_FUZZ_CHECK(tw::GlobMatch(value, value), "a literal matches");
    (void)tw::GlobMatch(value, tw::GlobLiteralPrefix(value));
  } else {
    TW_FUZZ_CHECK(!tw::GlobMatch(value, value), "a malformed glob matches nothing");
  }
  const auto now = std::chrono::system_clock::time_point(std::chrono::hours(500000));
  if (auto since = tw::ParseSince(value, now); since.ok()) {
    (void)tw::FormatIso8601Utc(*since);
  }
  if (auto d = tw::ParseDuration(value); d.ok()) TW_FUZZ_CHECK(d->count() >= 0, "d >= 0");
  if (tw::ValidateMetricName(value).ok()) (void)tw::LowerIsBetter(value);
}

void CheckForm(std::string_view body) {
  auto form = tw::api::ParseFormBody(body);
  if (!form.ok()) {
    TW_FUZZ_CHECK(form.status().code() == tw::StatusCode::kInvalidArgument, "InvalidArgument");
    return;
  }
  std::string encoded;
  for (const auto& [name, value] : *form) {
    if (!encoded.empty()) encoded += '&';
    encoded += tw::api::PercentEncode(name) + "=" + tw::api::PercentEncode(value);
    CheckQueryValue(value);
  }
  auto again = tw::api::ParseFormBody(encoded);
  TW_FUZZ_CHECK(again.ok(), "percent-encoded fields parse");
  // Empty names without '=' are dropped by the parser only when the pair is empty.
  TW_FUZZ_CHECK(*again == *form, "form fields round-trip through PercentEncode");
}

void CheckJsonBody(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return;
  for (const auto& [key, value] : doc.items()) {
    // POST /v1/checkpoints names an unknown field in its error: any key must make valid JSON.
    const tw::api::HttpResponse error =
        tw::api::JsonError(400, "invalid_argument", "unknown field (allowed: path)", key);
    auto parsed = nlohmann::json::parse(error.body, nullptr, false);
    TW_FUZZ_CHECK(!parsed.is_discarded(), "JSON errors are JSON");
  }
}

void CheckHeader(const std::string& name, const std::string& value) {
  if (name == "host") {
    (void)tw::api::IsLoopbackHost(HostWithoutPort(value));
  } else if (name == "cookie") {
    const auto now = std::chrono::system_clock::now();
    if (auto cookie = tw::api::BrowserSessions::FindCookie(value)) {
      if (Sessions().Valid(*cookie, now)) {
        // Only a cookie with this process's MAC is valid: the fuzzer cannot forge one.
        TW_FUZZ_CHECK(cookie->find('.') != std::string::npos, "a valid cookie has a MAC");
      }
    }
  } else if (name == "authorization") {
    TW_FUZZ_CHECK(!Sessions().TokenMatches(value) || value == "s3cret-token",
                  "only the token matches");
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string PercentDecodePath(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() &&
        std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(path.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += path[i];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t head_end = input.find("\r\n\r\n");
  const std::string_view head = input.substr(0, head_end);
  const std::string body(head_end == std::string_view::npos ? "" : input.substr(head_end + 4));

  size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const size_t space = request_line.find(' ');
  const std::string_view method = request_line.substr(0, space);
  std::string_view target =
      space == std::string_view::npos ? std::string_view() : request_line.substr(space + 1);
  target = target.substr(0, target.find(' '));  // drop " HTTP/1.1"
  const size_t question = target.find('?');
  CheckRoute(method, PercentDecodePath(target.substr(0, question)));
  if (question != std::string_view::npos) CheckForm(target.substr(question + 1));

  while (line_end != std::string_view::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view line = head.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    CheckHeader(Lower(line.substr(0, colon)), std::string(value));
  }

  CheckForm(body);
  CheckJsonBody(body);

  // A cookie minted here is valid and found again in a Cookie header.
  const auto now = std::chrono::system_clock::now();
  const std::string minted = Sessions().Mint(now);
  TW_FUZZ_CHECK(Sessions().Valid(minted, now), "a minted cookie is valid");
  auto found = tw::api::BrowserSessions::FindCookie("a=1; tw_session=" + minted + "; b=2");
  TW_FUZZ_CHECK(found && *found == minted, "FindCookie finds it");
  return 0;
}
