// HttpServer over cpp-httplib 0.11: the only file that includes httplib.h. Every exception that
// httplib or a handler throws is caught here and becomes a JSON error or a Status.
#include "api/http_server.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>

#include "api/router.h"
#include "common/logging.h"
#include "common/sha256.h"

namespace tw::api {
namespace {

constexpr std::string_view kUnmatchedRoute = "unmatched";

// Request-duration buckets in seconds: 1 ms .. 10 s.
const std::vector<double> kDurationBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10};

// Set by the pre-routing handler, read by the post-routing handler of the same request. One
// connection is served by one pool thread from start to end, so a thread_local is enough; a
// request that fails to parse never reaches pre-routing and has no start time.
struct RequestClock {
  bool started = false;
  std::chrono::steady_clock::time_point start;
};
thread_local RequestClock tl_clock;

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A method label from a small fixed set (httplib rejects other methods at parse time, but the
// label must never carry client-chosen text).
std::string MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == known) return std::string(known);
  }
  return "other";
}

// The host part of a Host header value: "[::1]:8470" -> "[::1]", "localhost:80" -> "localhost".
std::string_view HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) return host.substr(0, colon);
  return host;
}

void ApplyResponse(const HttpResponse& from, httplib::Response& to) {
  to.status = from.status;
  to.body = from.body;
  to.set_header("Content-Type", from.content_type);
  for (const auto& [name, value] : from.headers) to.set_header(name, value);
}

// What every browser page's response carries, whatever the handler set.
void ApplyBrowserPagePolicy(httplib::Response& res) {
  res.set_header("Content-Security-Policy", std::string(kBrowserPagePolicy));
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
}

void SetJsonError(httplib::Response& res, int status, std::string_view code,
                  std::string_view message) {
  ApplyResponse(JsonError(status, code, message), res);
}

bool StartsWithCaseInsensitive(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ToLower(s.substr(0, prefix.size())) == prefix;
}

}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  Router router;
  std::optional<std::string> token_digest;    // SHA-256 hex of the token
  std::unique_ptr<BrowserSessions> sessions;  // with a token only
  CounterFamily* requests = nullptr;
  HistogramFamily* durations = nullptr;
  httplib::Server server;
  std::thread listener;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;

  explicit Impl(Router r) : router(std::move(r)) {}

  // True when the request may go on; otherwise `res` holds the error.
  bool CheckHost(const httplib::Request& req, httplib::Response& res) const {
    if (!IsLoopbackHost(options.bind_host) || !req.has_header("Host")) return true;
    const std::string host = req.get_header_value("Host");
    if (IsLoopbackHost(HostWithoutPort(host))) return true;
    SetJsonError(res, 421, "misdirected_request",
                 "the Host header must name a loopback address (this server is bound to " +
                     options.bind_host + ")");
    return false;
  }

  bool Authorized(const HttpRequest& request) const {
    if (!token_digest.has_value()) return true;
    auto it = request.headers.find("authorization");
    if (it == request.headers.end()) return false;
    std::string_view value = it->second;
    if (!StartsWithCaseInsensitive(value, "bearer ")) return false;
    value.remove_prefix(7);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return TokenMatchesDigest(value, *token_digest);
  }

  // A browser page may also be opened with the session cookie the login form set.
  bool SessionAuthorized(const HttpRequest& request) const {
    if (sessions == nullptr) return false;
    auto it = request.headers.find("cookie");
    if (it == request.headers.end()) return false;
    const std::optional<std::string> value = BrowserSessions::FindCookie(it->second);
    return value.has_value() && sessions->Valid(*value, std::chrono::system_clock::now());
  }

  // Everything after httplib has parsed the request (and read the body into `body`).
  void Dispatch(const httplib::Request& req, std::string body, httplib::Response& res) const {
    HttpRequest request;
    request.method = req.method;
    request.path = req.path;
    request.target = req.target;
    request.query.insert(req.params.begin(), req.params.end());
    for (const auto& [name, value] : req.headers) {
      auto [it, inserted] = request.headers.emplace(ToLower(name), value);
      if (!inserted) it->second += ", " + value;
    }
    request.body = std::move(body);
    request.remote_addr = req.remote_addr;

    Router::Match match = router.Find(request.method, request.path);
    const bool found = match.kind == Router::Match::Kind::kFound;
    const bool is_public = found && match.route->public_route;
    const bool browser_page = found && match.route->browser_page;
    if (!is_public && !Authorized(request) && !(browser_page && SessionAuthorized(request))) {
      if (browser_page && (request.method == "GET" || request.method == "HEAD")) {
        // A person at a browser: to the login form, and back here after it.
        res.status = 303;
        res.set_header("Location", "/login?next=" + PercentEncode(request.target));
        res.set_header("Content-Type", "text/html; charset=utf-8");
        res.body = "<!doctype html><title>login</title><a href=\"/login\">log in</a>\n";
        ApplyBrowserPagePolicy(res);
        return;
      }
      SetJsonError(res, 401, "unauthenticated", "missing or invalid bearer token");
      res.set_header("WWW-Authenticate", "Bearer");
      return;
    }
    switch (match.kind) {
      case Router::Match::Kind::kBadPath:
        ApplyResponse(JsonError(400, "invalid_argument", "invalid request path", "path"), res);
        return;
      case Router::Match::Kind::kNotFound:
        SetJsonError(res, 404, "not_found", "no such endpoint");
        return;
      case Router::Match::Kind::kMethodNotAllowed: {
        std::string allow;
        for (const std::string& m : match.allowed_methods) {
          if (!allow.empty()) allow += ", ";
          allow += m;
        }
        SetJsonError(res, 405, "method_not_allowed",
                     "method " + MethodLabel(request.method) + " is not allowed here");
        res.set_header("Allow", allow);
        return;
      }
      case Router::Match::Kind::kFound:
        break;
    }
    request.path_params = std::move(match.path_params);
    request.sessions = sessions.get();
    try {
      ApplyResponse(match.route->handler(request), res);
      if (browser_page) ApplyBrowserPagePolicy(res);
    } catch (const std::exception& e) {
      Logger("api")->error("handler for {} {} threw: {}", match.route->method, match.route->pattern,
                           e.what());
      SetJsonError(res, 500, "internal", "internal error");
    } catch (...) {
      Logger("api")->error("handler for {} {} threw a non-standard exception", match.route->method,
                           match.route->pattern);
      SetJsonError(res, 500, "internal", "internal error");
    }
  }

  // For requests with a body that httplib hands us unread (POST, PUT, PATCH, DELETE).
  void DispatchWithReader(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) const {
    if (StartsWithCaseInsensitive(req.get_header_value("Content-Type"), "multipart/")) {
      SetJsonError(res, 415, "unsupported_media_type", "multipart bodies are not accepted");
      return;
    }
    std::string body;
    bool too_large = false;
    const bool ok = reader([&](const char* data, size_t n) {
      if (body.size() + n > options.max_body_bytes) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_large || res.status == 413) {
      SetJsonError(
          res, 413, "payload_too_large",
          "request body is larger than " + std::to_string(options.max_body_bytes) + " bytes");
      return;
    }
    if (!ok) {
      SetJsonError(res, 400, "bad_request", "could not read the request body");
      return;
    }
    res.status = -1;
    Dispatch(req, std::move(body), res);
  }

  // Runs before the body is read. Returns Handled (with the error in `res`) to refuse early.
  httplib::Server::HandlerResponse PreRouting(const httplib::Request& req,
                                              httplib::Response& res) const {
    tl_clock.started = true;
    tl_clock.start = std::chrono::steady_clock::now();
    if (!CheckHost(req, res)) return httplib::Server::HandlerResponse::Handled;
    size_t header_bytes = 0;
    for (const auto& [name, value] : req.headers) header_bytes += name.size() + value.size() + 4;
    if (header_bytes > options.max_header_bytes) {
      SetJsonError(
          res, 431, "headers_too_large",
          "request headers are larger than " + std::to_string(options.max_header_bytes) + " bytes");
      return httplib::Server::HandlerResponse::Handled;
    }
    // httplib reads the bodies of these methods itself, without a size limit for chunked or
    // compressed ones; our routes never take one, so refuse before it starts.
    const bool reader_method = req.method == "POST" || req.method == "PUT" ||
                               req.method == "PATCH" || req.method == "DELETE";
    if (!reader_method &&
        (req.has_header("Transfer-Encoding") || req.has_header("Content-Encoding"))) {
      SetJsonError(res, 400, "bad_request", "this request must not have a chunked or encoded body");
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // Runs for every response httplib writes, just before the status line.
  void PostRouting(const httplib::Request& req, httplib::Response& res) const {
    if (!res.has_header("Cache-Control")) res.set_header("Cache-Control", "no-store");
    if (!res.has_header("X-Content-Type-Options")) {
      res.set_header("X-Content-Type-Options", "nosniff");
    }
    const bool started = tl_clock.started;
    tl_clock.started = false;
    if (requests == nullptr) return;
    std::string route(kUnmatchedRoute);
    if (!req.path.empty()) {
      const Router::Match match = router.Find(req.method, req.path);
      if (match.route != nullptr) route = match.route->pattern;
    }
    requests->WithLabelValues({route, MethodLabel(req.method), std::to_string(res.status)}).Inc();
    if (started) {
      const std::chrono::duration<double> elapsed =
          std::chrono::steady_clock::now() - tl_clock.start;
      durations->WithLabelValues({route}).Observe(elapsed.count());
    }
  }

  // httplib's own errors (parse failures, 413 on Content-Length, 414) arrive with an empty body.
  httplib::Server::HandlerResponse Error(const httplib::Request&, httplib::Response& res) const {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    switch (res.status) {
      case 400:
        SetJsonError(res, 400, "bad_request", "malformed request");
        break;
      case 404:
        SetJsonError(res, 404, "not_found", "no such endpoint");
        break;
      case 413:
        SetJsonError(
            res, 413, "payload_too_large",
            "request body is larger than " + std::to_string(options.max_body_bytes) + " bytes");
        break;
      case 414:
        SetJsonError(res, 414, "uri_too_long", "request target is too long");
        break;
      case 415:
        SetJsonError(res, 415, "unsupported_media_type", "unsupported content encoding");
        break;
      case 416:
        SetJsonError(res, 416, "range_not_satisfiable", "range not satisfiable");
        break;
      default:
        SetJsonError(res, res.status, "error", "request failed");
        break;
    }
    return httplib::Server::HandlerResponse::Handled;
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  try {
    impl_->server.stop();
  } catch (const std::exception& e) {
    Logger("api")->error("stopping the HTTP server: {}", e.what());
  }
  if (impl_->listener.joinable()) impl_->listener.join();
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options,
                                                        std::vector<Route> routes,
                                                        MetricsRegistry* metrics) {
  if (options.token.has_value() && options.token->empty()) {
    return InvalidArgumentError("api token is empty");
  }
  if (!options.token.has_value() && !IsLoopbackHost(options.bind_host)) {
    return InvalidArgumentError("api.token_file is required when api.bind is not loopback (" +
                                options.bind_host + ")");
  }
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgumentError("api port " + std::to_string(options.port) + " is out of range");
  }
  if (options.threads < 1) return InvalidArgumentError("api threads must be at least 1");
  if (options.max_body_bytes == 0) return InvalidArgumentError("api max_body_bytes must be > 0");
  if (options.read_timeout.count() <= 0 || options.write_timeout.count() <= 0) {
    return InvalidArgumentError("api read and write timeouts must be positive");
  }
  {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* result = nullptr;
    const int rc = ::getaddrinfo(options.bind_host.c_str(), "0", &hints, &result);
    if (rc != 0) {
      return InvalidArgumentError("api.bind: cannot resolve host '" + options.bind_host +
                                  "': " + ::gai_strerror(rc));
    }
    ::freeaddrinfo(result);
  }
  TW_ASSIGN_OR_RETURN(Router router, Router::Create(std::move(routes)));

  auto impl = std::make_unique<Impl>(std::move(router));
  if (options.token.has_value()) {
    impl->token_digest = Sha256Hex(*options.token);
    TW_ASSIGN_OR_RETURN(impl->sessions,
                        BrowserSessions::Create(*options.token, options.session_max_age));
  }
  if (metrics != nullptr) {
    impl->requests = &metrics->GetOrAddCounter("transferwatch_http_requests_total",
                                               "HTTP requests answered by the API server.",
                                               {"route", "method", "code"});
    impl->durations =
        &metrics->GetOrAddHistogram("transferwatch_http_request_duration_seconds",
                                    "Time from a parsed request to its response, by route pattern.",
                                    kDurationBuckets, {"route"});
  }
  impl->options = std::move(options);
  const ServerOptions& opts = impl->options;
  Impl* self = impl.get();

  try {
    httplib::Server& server = impl->server;
    const int threads = opts.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_read_timeout(opts.read_timeout);
    server.set_write_timeout(opts.write_timeout);
    // A keep-alive connection holds a pool thread while it lasts; with more clients than
    // threads the others wait. Ten requests per connection keeps that wait short (with 100,
    // 32 clients on 4 threads saw 5 s waits in the soak).
    server.set_keep_alive_max_count(10);
    server.set_keep_alive_timeout(1);  // an idle keep-alive connection holds a pool thread
    // Headers and body leave in separate writes: with Nagle on, the body waits for the
    // client's delayed ACK (40 ms on Linux), which capped a keep-alive connection at ~20
    // requests/s (bench/soak before/after in docs/reliability.md).
    server.set_tcp_nodelay(true);
    server.set_payload_max_length(opts.max_body_bytes);
    // httplib's default also sets SO_REUSEPORT, which lets a second daemon bind the same port
    // and silently share its connections; take only SO_REUSEADDR (restart without TIME_WAIT).
    server.set_socket_options([](int sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
      return self->PreRouting(req, res);
    });
    server.set_post_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
      self->PostRouting(req, res);
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [self](const httplib::Request& req, httplib::Response& res) {
          return self->Error(req, res);
        }));
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                    std::exception_ptr ep) {
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        Logger("api")->error("{} request failed: {}", MethodLabel(req.method), e.what());
      } catch (...) {
        Logger("api")->error("{} request failed: non-standard exception", MethodLabel(req.method));
      }
      SetJsonError(res, 500, "internal", "internal error");
    });
    const auto plain = [self](const httplib::Request& req, httplib::Response& res) {
      self->Dispatch(req, req.body, res);
    };
    const auto with_reader = [self](const httplib::Request& req, httplib::Response& res,
                                    const httplib::ContentReader& reader) {
      self->DispatchWithReader(req, res, reader);
    };
    server.Get(".*", plain);  // also HEAD
    server.Options(".*", plain);
    server.Post(".*", httplib::Server::HandlerWithContentReader(with_reader));
    server.Put(".*", httplib::Server::HandlerWithContentReader(with_reader));
    server.Patch(".*", httplib::Server::HandlerWithContentReader(with_reader));
    server.Delete(".*", httplib::Server::HandlerWithContentReader(with_reader));

    errno = 0;
    bool bound = false;
    if (opts.port == 0) {
      const int port = server.bind_to_any_port(opts.bind_host);
      bound = port > 0;
      impl->port = port;
    } else {
      bound = server.bind_to_port(opts.bind_host, opts.port);
      impl->port = opts.port;
    }
    if (!bound) {
      const int err = errno;
      std::string message = "cannot listen on " + opts.bind_host + ":" + std::to_string(opts.port);
      if (err != 0) message += std::string(": ") + std::strerror(err);
      return UnavailableError(message);
    }
    auto listener_done = std::make_shared<std::atomic<bool>>(false);
    impl->listener = std::thread([self, listener_done] {
      try {
        self->server.listen_after_bind();
      } catch (const std::exception& e) {
        Logger("api")->error("HTTP listener stopped: {}", e.what());
      }
      listener_done->store(true);
    });
    // The socket already queues clients; wait until the accept loop runs, because
    // httplib::Server::stop() does nothing before that (and Stop() would then never return).
    while (!impl->server.is_running() && !listener_done->load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!impl->server.is_running()) {
      impl->listener.join();
      return UnknownError("the HTTP listener on " + opts.bind_host + ":" +
                          std::to_string(impl->port) + " stopped at once");
    }
  } catch (const std::exception& e) {
    return UnknownError(std::string("starting the HTTP server: ") + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace tw::api
