// The daemon's HTTP server: a route table of plain handlers behind one set of rules that no route
// can opt out of (docs/api.md states them for operators).
//
//   std::vector<Route> routes = {
//       {"GET", "/healthz", /*public_route=*/true, "Liveness.", [](const HttpRequest&) {
//          return JsonOk(R"({"status":"ok"})");
//        }},
//       {"GET", "/v1/runs/{name}", false, "One run.", [&](const HttpRequest& request) {
//          return ShowRun(request.path_params.at("name"));
//        }},
//   };
//   TW_ASSIGN_OR_RETURN(auto server, HttpServer::Start(options, std::move(routes), &registry));
//
// What the server does before and after a handler runs:
//   - Host check (only when bound to a loopback address): a request whose Host header names
//     anything but a loopback name or address gets 421 (DNS rebinding defence). A missing Host
//     (HTTP/1.0) is allowed.
//   - Auth (only when a token is set): every route except public ones needs
//     "Authorization: Bearer <token>", compared in constant time over SHA-256 digests; otherwise
//     401 with "WWW-Authenticate: Bearer". Unknown paths also answer 401 to unauthenticated
//     callers, so the route table cannot be enumerated without the token. Browser pages
//     (Route::browser_page) also take the session cookie of sessions.h, and send a GET or HEAD
//     without either to "/login?next=<target>" (303) instead of answering 401.
//   - Browser pages (and only they) carry a Content-Security-Policy that allows no script, no
//     frame and no outside resource (kBrowserPagePolicy), X-Frame-Options DENY and
//     Referrer-Policy no-referrer.
//   - Routing: unknown path 404, known path with another method 405 (with Allow), a path with a
//     "." or ".." segment or a NUL byte 400. HEAD is answered by the GET route (without a body).
//   - Limits: body over max_body_bytes 413 (Content-Length or chunked, after decompression);
//     headers over max_header_bytes in total 431; read/write timeouts per socket operation.
//   - A handler that throws answers 500 "internal error"; the exception is logged ("api"
//     logger), never sent. Library and parse errors are answered as JSON errors too.
//   - Every response carries "Cache-Control: no-store" and "X-Content-Type-Options: nosniff".
//   - With a registry: transferwatch_http_requests_total{route,method,code} and
//     transferwatch_http_request_duration_seconds{route}; route is the pattern, or "unmatched".
//
// Thread safety: handlers run concurrently on up to `threads` threads; they must be thread-safe.
// Start/Stop/port may be called from any thread; Stop is idempotent.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/sessions.h"
#include "common/metrics.h"
#include "common/status.h"

namespace tw::api {

struct HttpRequest {
  std::string method;                              // "GET", "POST" (as sent; HEAD stays HEAD)
  std::string path;                                // percent-decoded, without the query
  std::string target;                              // as sent: path and query, not decoded
  std::map<std::string, std::string> path_params;  // from "{name}" segments of the route pattern
  std::multimap<std::string, std::string> query;   // repeated keys are all kept
  std::map<std::string, std::string> headers;      // lower-case names; repeats joined by ", "
  std::string body;
  std::string remote_addr;
  // The server's browser sessions, for the login route: null when the server has no token.
  const BrowserSessions* sessions = nullptr;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Further headers (Location, Set-Cookie). The server's own (Cache-Control, the browser-page
  // policy) are set after these and win.
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

struct Route {
  std::string method;         // GET or POST
  std::string pattern;        // "/v1/runs", "/v1/runs/{name}"; a {} segment matches one non-empty
                              // path segment; literal segments win over {} ones
  bool public_route = false;  // true only for /healthz: reachable without the token
  std::string summary;        // one line, for docs and GET /v1 index
  Handler handler;
  // An HTML page for browsers: the session cookie authorizes it as well as the bearer token, an
  // unauthenticated GET is redirected to /login, and the response carries the page policy.
  bool browser_page = false;
};

// The Content-Security-Policy of browser pages: inline styles and same-origin or data: images
// only; no script, no frames, forms post back to this server only.
inline constexpr std::string_view kBrowserPagePolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

// The server's default pool size; the daemon sizes its pool of API database connections by it.
inline constexpr int kDefaultServerThreads = 4;

struct ServerOptions {
  std::string bind_host = "127.0.0.1";
  int port = 8470;                   // 0 = any free port (tests)
  std::optional<std::string> token;  // bearer token; required (Start refuses) when bind_host is
                                     // not loopback
  size_t max_body_bytes = 1 << 20;
  // The sum of header lines' sizes (name + value + 4). cpp-httplib 0.11 parses the headers before
  // we see them: it caps each line at 8192 bytes itself (longer: 400 or connection closed), so
  // this limit is checked after parsing (431), and the number of header lines is not limited
  // beyond what the read timeout allows.
  size_t max_header_bytes = 8192;
  std::chrono::milliseconds read_timeout{5000}, write_timeout{5000};
  int threads = kDefaultServerThreads;
  // How long a browser's session cookie (sessions.h) stays valid; only used with a token.
  std::chrono::seconds session_max_age{std::chrono::hours(12)};
};

// JSON error body: {"error": {"code": "invalid_argument", "message": "...", "field": "path"}}
// (field omitted when none).
HttpResponse JsonError(int status, std::string_view code, std::string_view message,
                       std::optional<std::string_view> field = std::nullopt);
HttpResponse JsonOk(std::string body_json, int status = 200);
// text/html; charset=utf-8.
HttpResponse HtmlOk(std::string html, int status = 200);

// Percent-encodes everything but the unreserved characters (A-Z a-z 0-9 - . _ ~), for a path
// segment or a query value.
std::string PercentEncode(std::string_view text);
// An application/x-www-form-urlencoded body ("token=a%2Bb&next=%2F"): '+' is a space, %XX a byte.
// InvalidArgument for a malformed escape.
StatusOr<std::multimap<std::string, std::string>> ParseFormBody(std::string_view body);

// 127.0.0.0/8 (dotted quad only), ::1 (also as "[::1]" and ::ffff:127.x.x.x), "localhost"
// (any case, optional trailing dot).
bool IsLoopbackHost(std::string_view host);

// Reads an API token: trims one trailing newline; refuses an empty token, one over 4 KiB or with
// characters outside visible ASCII (InvalidArgument), a file readable or writable by group/other
// (PermissionDenied naming the mode, e.g. "0644"), or something that is not a regular file.
StatusOr<std::string> ReadTokenFile(const std::string& path);

class HttpServer {
 public:
  // Binds (port 0 picks one), starts the listener thread(s), returns once listening. Refuses:
  // non-loopback without token (InvalidArgument "api.token_file is required when api.bind is not
  // loopback"), a host that does not resolve (InvalidArgument), port in use (Unavailable naming
  // host:port), duplicate or malformed route patterns, methods other than GET/POST, missing
  // handlers (InvalidArgument). With `metrics` (may be null: then no request metrics) the request
  // families are registered there (GetOrAdd: a registry may serve successive servers).
  static StatusOr<std::unique_ptr<HttpServer>> Start(ServerOptions options,
                                                     std::vector<Route> routes,
                                                     MetricsRegistry* metrics);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting, waits for in-flight handlers (and for queued connections to finish).
  void Stop();
  int port() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::api
