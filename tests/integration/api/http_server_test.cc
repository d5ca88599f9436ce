// HttpServer over real HTTP on 127.0.0.1 (port 0): routing, limits, malformed input, timeouts,
// the auth matrix over every route, the Host check, token files, and /metrics through promtool.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "tests/testing/httplib.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::tw::testing::StatusIs;

constexpr char kToken[] = "s3cret-Token_0123456789";

// What every test server serves. /v1/slow blocks until `release` (or 5 s).
struct Fixture {
  std::atomic<bool> slow_started{false};
  std::atomic<bool> slow_release{false};
  std::atomic<bool> slow_done{false};

  std::vector<Route> Routes() {
    std::vector<Route> routes;
    routes.push_back({"GET", "/healthz", true, "Liveness.",
                      [](const HttpRequest&) { return JsonOk(R"({"status":"ok"})"); }});
    routes.push_back({"GET", "/v1/runs", false, "Runs.",
                      [](const HttpRequest&) { return JsonOk(R"({"runs":[]})"); }});
    routes.push_back({"GET", "/v1/runs/{name}", false, "One run.", [](const HttpRequest& r) {
                        return JsonOk(nlohmann::json{{"name", r.path_params.at("name")}}.dump());
                      }});
    routes.push_back({"GET", "/v1/runs/latest", false, "The newest run.",
                      [](const HttpRequest&) { return JsonOk(R"({"latest":true})"); }});
    routes.push_back(
        {"POST", "/v1/runs/{name}/rescan", false, "Rescan a run.", [](const HttpRequest& r) {
           return JsonOk(
               nlohmann::json{{"name", r.path_params.at("name")}, {"body_bytes", r.body.size()}}
                   .dump(),
               202);
         }});
    routes.push_back(
        {"GET", "/v1/echo", false, "Echo query and headers.", [](const HttpRequest& r) {
           nlohmann::json query = nlohmann::json::array();
           for (const auto& [k, v] : r.query) query.push_back({k, v});
           nlohmann::json out = {{"method", r.method},
                                 {"path", r.path},
                                 {"query", query},
                                 {"remote_addr", r.remote_addr}};
           auto it = r.headers.find("x-test");
           if (it != r.headers.end()) out["x_test"] = it->second;
           return JsonOk(out.dump());
         }});
    routes.push_back({"POST", "/v1/echo", false, "Echo the body size.", [](const HttpRequest& r) {
                        return JsonOk(nlohmann::json{{"body_bytes", r.body.size()}}.dump());
                      }});
    routes.push_back({"GET", "/v1/boom", false, "Throws.", [](const HttpRequest&) -> HttpResponse {
                        throw std::runtime_error("secret detail /etc/passwd");
                      }});
    routes.push_back({"GET", "/v1/slow", false, "Blocks.", [this](const HttpRequest&) {
                        slow_started = true;
                        const auto deadline =
                            std::chrono::steady_clock::now() + std::chrono::seconds(5);
                        while (!slow_release && std::chrono::steady_clock::now() < deadline) {
                          std::this_thread::sleep_for(std::chrono::milliseconds(5));
                        }
                        slow_done = true;
                        return JsonOk("{}");
                      }});
    return routes;
  }
};

std::unique_ptr<HttpServer> MustStart(ServerOptions options, std::vector<Route> routes,
                                      MetricsRegistry* metrics = nullptr) {
  options.port = 0;
  auto server = HttpServer::Start(std::move(options), std::move(routes), metrics);
  if (!server.ok()) {
    ADD_FAILURE() << server.status().ToString();
    return nullptr;
  }
  return std::move(server).value();
}

httplib::Client ClientFor(const HttpServer& server) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(std::chrono::seconds(5));
  return client;
}

httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

nlohmann::json ErrorOf(const httplib::Result& result) {
  return nlohmann::json::parse(result->body).at("error");
}

// True once `response` holds a status line, headers and Content-Length bytes of body.
bool ResponseComplete(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  const std::string head = response.substr(0, end);
  const size_t at = head.find("Content-Length: ");
  if (at == std::string::npos) return true;
  const size_t length = std::strtoul(head.c_str() + at + 16, nullptr, 10);
  return response.size() >= end + 4 + length;
}

// Sends `bytes` on a fresh connection, then reads until a whole response has arrived, the server
// closes, or `timeout` passes.
struct RawResult {
  std::string response;
  bool closed = false;  // the server closed the connection
};
RawResult RawExchange(int port, const std::string& bytes,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  RawResult result;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return result;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return result;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. on an oversized header)
    sent += static_cast<size_t>(n);
  }
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) {
      result.closed = true;
      break;
    }
    if (n < 0) {
      if (errno == ECONNRESET) result.closed = true;
      break;
    }
    result.response.append(buf, static_cast<size_t>(n));
    if (ResponseComplete(result.response)) break;  // do not wait out keep-alive
  }
  ::close(fd);
  return result;
}

void ExpectSecurityHeaders(const httplib::Result& result) {
  ASSERT_TRUE(result);
  EXPECT_EQ(result->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(result->get_header_value("X-Content-Type-Options"), "nosniff");
}

void ExpectStillServing(const HttpServer& server) {
  auto client = ClientFor(server);
  auto result = client.Get("/healthz");
  ASSERT_TRUE(result) << "server stopped answering";
  EXPECT_EQ(result->status, 200);
}

// ---- Routing --------------------------------------------------------------------------------

TEST(HttpServerTest, RoutesWithPathParamsQueryAndHeaders) {
  Fixture fixture;
  auto server = MustStart({}, fixture.Routes());
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);

  auto run = client.Get("/v1/runs/resnet-50");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 200);
  EXPECT_EQ(run->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(run->body)["name"], "resnet-50");
  ExpectSecurityHeaders(run);

  auto latest = client.Get("/v1/runs/latest");  // literal beats {name}
  ASSERT_TRUE(latest);
  EXPECT_EQ(nlohmann::json::parse(latest->body)["latest"], true);

  auto rescan = client.Post("/v1/runs/a.b_c/rescan", "xyz", "application/json");
  ASSERT_TRUE(rescan);
  EXPECT_EQ(rescan->status, 202);
  EXPECT_EQ(nlohmann::json::parse(rescan->body)["name"], "a.b_c");
  EXPECT_EQ(nlohmann::json::parse(rescan->body)["body_bytes"], 3);

  auto echo = client.Get("/v1/echo?a=1&b=x%20y&a=2", {{"X-Test", "hello"}});
  ASSERT_TRUE(echo);
  const auto body = nlohmann::json::parse(echo->body);
  EXPECT_EQ(body["path"], "/v1/echo");
  EXPECT_EQ(body["x_test"], "hello");
  EXPECT_EQ(body["remote_addr"], "127.0.0.1");
  EXPECT_EQ(body["query"], nlohmann::json::parse(R"([["a","1"],["a","2"],["b","x y"]])"));

  auto head = client.Head("/v1/runs");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
}

TEST(HttpServerTest, UnknownPathWrongMethodAndBadPaths) {
  Fixture fixture;
  auto server = MustStart({}, fixture.Routes());
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);

  for (const char* path : {"/nope", "/v1/runs/", "/v1//runs", "/v1/runs/x/y", "/V1/runs"}) {
    auto result = client.Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 404) << path;
    EXPECT_EQ(ErrorOf(result)["code"], "not_found") << path;
    ExpectSecurityHeaders(result);
  }

  auto post = client.Post("/v1/runs", "", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  EXPECT_EQ(ErrorOf(post)["code"], "method_not_allowed");
  auto get = client.Get("/v1/runs/x/rescan");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  auto put = client.Put("/v1/runs", "", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);

  for (const char* path : {"/v1/runs/..", "/v1/runs/%2e%2e", "/v1/runs/.", "/v1/runs/%00"}) {
    auto result = client.Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 400) << path;
    EXPECT_EQ(ErrorOf(result)["field"], "path") << path;
  }
  // A long path (just under httplib's 8192-byte request-line limit) goes through the matcher.
  auto long_path = client.Get(("/v1/runs/" + std::string(8000, 'a')).c_str());
  ASSERT_TRUE(long_path);
  EXPECT_EQ(long_path->status, 200);
  auto deep_path = client.Get(("/v1" +
                               [] {
                                 std::string deep;
                                 for (int i = 0; i < 2000; ++i) deep += "/a";
                                 return deep;
                               }())
                                  .c_str());
  ASSERT_TRUE(deep_path);
  EXPECT_EQ(deep_path->status, 404);
  // "%2F" decodes to "/": the path then has more segments and matches nothing.
  auto slash = client.Get("/v1/runs/a%2Fb");
  ASSERT_TRUE(slash);
  EXPECT_EQ(slash->status, 404);
}

// ---- Limits and malformed input -------------------------------------------------------------

TEST(HttpServerTest, BodyOverLimitIs413) {
  Fixture fixture;
  ServerOptions options;
  options.max_body_bytes = 1024;
  options.read_timeout = std::chrono::milliseconds(300);
  auto server = MustStart(options, fixture.Routes());
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);

  auto ok = client.Post("/v1/echo", std::string(1024, 'x'), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(nlohmann::json::parse(ok->body)["body_bytes"], 1024);

  auto big = client.Post("/v1/echo", std::string(1025, 'x'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(ErrorOf(big)["code"], "payload_too_large");
  ExpectSecurityHeaders(big);

  // A chunked body has no Content-Length: the limit applies while reading.
  std::string chunked =
      "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "200\r\n" + std::string(512, 'y') + "\r\n";
  chunked += "0\r\n\r\n";
  const RawResult raw = RawExchange(server->port(), chunked);
  EXPECT_THAT(raw.response, HasSubstr("413"));
  EXPECT_THAT(raw.response, HasSubstr("payload_too_large"));

  // A huge Content-Length is refused from the header (the body is never buffered).
  const RawResult huge = RawExchange(
      server->port(),
      "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n\r\nabc",
      std::chrono::milliseconds(3000));
  EXPECT_THAT(huge.response, HasSubstr("413"));

  // A GET with a chunked body is refused before httplib reads it.
  const RawResult get_chunked =
      RawExchange(server->port(),
                  "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_THAT(get_chunked.response, HasSubstr("400"));

  // Multipart bodies are not parsed at all.
  auto multipart =
      client.Post("/v1/echo", "--b\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b");
  ASSERT_TRUE(multipart);
  EXPECT_EQ(multipart->status, 415);
  ExpectStillServing(*server);
}

TEST(HttpServerTest, HeadersOverLimitAre431) {
  Fixture fixture;
  ServerOptions options;
  options.max_header_bytes = 2048;
  auto server = MustStart(options, fixture.Routes());
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  httplib::Headers headers;
  for (int i = 0; i < 10; ++i) headers.emplace("X-Pad-" + std::to_string(i), std::string(300, 'p'));
  auto result = client.Get("/healthz", headers);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 431);
  EXPECT_EQ(ErrorOf(result)["code"], "headers_too_large");
  ExpectStillServing(*server);
}

TEST(HttpServerTest, MalformedRequestsAreRefusedAndServingContinues) {
  Fixture fixture;
  ServerOptions options;
  options.read_timeout = std::chrono::milliseconds(300);  // cuts off inputs without a newline
  auto server = MustStart(options, fixture.Routes());
  ASSERT_NE(server, nullptr);
  const std::vector<std::string> inputs = {
      "garbage\r\n\r\n",
      "\r\n\r\n",
      "GET\r\n\r\n",
      "GET /healthz HTTP/9.9 extra\r\n\r\n",
      "FOO /healthz HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
      "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n\r\n",
      std::string("\x00\x01\x02\xff\xfe", 5),
  };
  for (const std::string& input : inputs) {
    const RawResult raw = RawExchange(server->port(), input + "");
    const std::string shown = input.substr(0, 40);
    // Either a 4xx answer or a closed connection; never a 2xx or 5xx.
    if (!raw.response.empty()) {
      EXPECT_THAT(raw.response, HasSubstr("HTTP/1.1 4")) << shown;
      EXPECT_THAT(raw.response, Not(HasSubstr("EXCEPTION_WHAT"))) << shown;
    } else {
      EXPECT_TRUE(raw.closed) << shown;
    }
    ExpectStillServing(*server);
  }
  // httplib 0.11 skips a header line without a colon instead of refusing the request.
  const RawResult lenient =
      RawExchange(server->port(), "GET /healthz HTTP/1.1\r\nNo-Colon\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(lenient.response, HasSubstr("HTTP/1.1 200"));
}

TEST(HttpServerTest, SlowClientIsCutOffByTheReadTimeout) {
  Fixture fixture;
  ServerOptions options;
  options.read_timeout = std::chrono::milliseconds(200);
  auto server = MustStart(options, fixture.Routes());
  ASSERT_NE(server, nullptr);
  // Half a request line, then nothing; headers that stop half way; a body that never comes.
  for (const std::string partial : {"GET /healthz HT", "GET /healthz HTTP/1.1\r\nHost: 12",
                                    "POST /v1/echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"}) {
    const auto start = std::chrono::steady_clock::now();
    const RawResult raw = RawExchange(server->port(), partial);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // Cut off: a 400 (httplib answers a request whose headers did not arrive) or a close.
    EXPECT_TRUE(raw.closed || raw.response.rfind("HTTP/1.1 400", 0) == 0) << partial;
    EXPECT_LT(elapsed, std::chrono::milliseconds(1500)) << partial;
  }
  ExpectStillServing(*server);
}

// ---- Auth -----------------------------------------------------------------------------------

// A request path for every route of the table ({name} filled in).
std::string ConcretePath(const std::string& pattern) {
  std::string path = pattern;
  const size_t open = path.find('{');
  if (open != std::string::npos) path.replace(open, path.find('}') - open + 1, "x");
  return path;
}

httplib::Result Send(httplib::Client& client, const Route& route, const std::string& path,
                     const httplib::Headers& headers) {
  if (route.method == "POST") return client.Post(path.c_str(), headers, "{}", "application/json");
  return client.Get(path.c_str(), headers);
}

TEST(HttpServerTest, AuthMatrixOverEveryRoute) {
  Fixture fixture;
  fixture.slow_release = true;  // /v1/slow returns at once
  ServerOptions options;
  options.token = kToken;
  const std::vector<Route> routes = fixture.Routes();
  auto server = MustStart(options, routes);
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  const std::string token = kToken;

  const std::vector<std::pair<std::string, httplib::Headers>> rejected = {
      {"no header", {}},
      {"wrong token", Bearer("wrong")},
      {"token prefix", Bearer(token.substr(0, token.size() - 1))},
      {"token plus suffix", Bearer(token + "x")},
      {"empty bearer", {{"Authorization", "Bearer "}}},
      {"wrong scheme", {{"Authorization", "Basic " + token}}},
      {"token as scheme", {{"Authorization", token}}},
      {"wrong header", {{"X-Api-Token", token}}},
  };
  for (const Route& route : routes) {
    const std::string path = ConcretePath(route.pattern);
    for (const auto& [what, headers] : rejected) {
      auto result = Send(client, route, path, headers);
      ASSERT_TRUE(result) << route.pattern << " " << what;
      if (route.public_route) {
        EXPECT_EQ(result->status, 200) << route.pattern << " " << what;
        continue;
      }
      EXPECT_EQ(result->status, 401) << route.method << " " << route.pattern << " " << what;
      EXPECT_EQ(result->get_header_value("WWW-Authenticate"), "Bearer");
      EXPECT_EQ(ErrorOf(result)["code"], "unauthenticated");
      EXPECT_THAT(result->body, Not(HasSubstr(token)));
    }
    // Tokens are never taken from the query string.
    auto query = Send(client, route, path + "?access_token=" + token + "&token=" + token, {});
    ASSERT_TRUE(query);
    EXPECT_EQ(query->status, route.public_route ? 200 : 401) << route.pattern;

    auto good = Send(client, route, path, Bearer(token));
    ASSERT_TRUE(good);
    EXPECT_NE(good->status, 401) << route.pattern;
    EXPECT_NE(good->status, 404) << route.pattern;
    auto lower_scheme = Send(client, route, path, {{"Authorization", "bearer " + token}});
    ASSERT_TRUE(lower_scheme);
    EXPECT_NE(lower_scheme->status, 401) << route.pattern;
  }

  // Unknown paths do not reveal themselves without the token.
  auto unknown = client.Get("/v1/secret-admin");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  auto unknown_authed = client.Get("/v1/secret-admin", Bearer(token));
  ASSERT_TRUE(unknown_authed);
  EXPECT_EQ(unknown_authed->status, 404);
}

TEST(HttpServerTest, StartRefusesNonLoopbackWithoutTokenAndBadConfigs) {
  Fixture fixture;
  ServerOptions open;
  open.bind_host = "0.0.0.0";
  open.port = 0;
  EXPECT_THAT(HttpServer::Start(open, fixture.Routes(), nullptr),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("api.token_file is required when api.bind is not loopback")));
  open.bind_host = "::";
  EXPECT_THAT(HttpServer::Start(open, fixture.Routes(), nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("api.token_file is required")));

  ServerOptions with_token;
  with_token.bind_host = "0.0.0.0";
  with_token.token = kToken;
  auto wide = MustStart(with_token, fixture.Routes());
  ASSERT_NE(wide, nullptr);
  wide->Stop();

  ServerOptions empty_token;
  empty_token.port = 0;
  empty_token.token = "";
  EXPECT_THAT(HttpServer::Start(empty_token, fixture.Routes(), nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));

  ServerOptions bad_host;
  bad_host.bind_host = "no-such-host.invalid";
  bad_host.port = 0;
  bad_host.token = kToken;
  EXPECT_THAT(HttpServer::Start(bad_host, fixture.Routes(), nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("cannot resolve")));

  auto first = MustStart({}, fixture.Routes());
  ASSERT_NE(first, nullptr);
  ServerOptions same_port;
  same_port.port = first->port();
  const std::string where = "127.0.0.1:" + std::to_string(first->port());
  EXPECT_THAT(HttpServer::Start(same_port, fixture.Routes(), nullptr),
              StatusIs(StatusCode::kUnavailable, HasSubstr(where)));
  ExpectStillServing(*first);

  const auto handler = [](const HttpRequest&) { return JsonOk("{}"); };
  const std::vector<std::pair<std::vector<Route>, std::string>> bad_tables = {
      {{{"GET", "/a/{x}", false, "", handler}, {"GET", "/a/{y}", false, "", handler}}, "duplicate"},
      {{{"GET", "/a", false, "", handler}, {"GET", "/a", false, "", handler}}, "duplicate"},
      {{{"PUT", "/a", false, "", handler}}, "GET or POST"},
      {{{"GET", "a", false, "", handler}}, "start with '/'"},
      {{{"GET", "/a/", false, "", handler}}, "empty path segment"},
      {{{"GET", "/a//b", false, "", handler}}, "empty path segment"},
      {{{"GET", "/a/{X}", false, "", handler}}, "bad parameter"},
      {{{"GET", "/a/{x", false, "", handler}}, "bad parameter"},
      {{{"GET", "/a/{x}/{x}", false, "", handler}}, "repeated"},
      {{{"GET", "/a/b c", false, "", handler}}, "bad literal"},
      {{{"GET", "/a/..", false, "", handler}}, "bad literal"},
      {{{"GET", "/a", false, "", nullptr}}, "no handler"},
  };
  for (const auto& [table, message] : bad_tables) {
    ServerOptions options;
    options.port = 0;
    EXPECT_THAT(HttpServer::Start(options, table, nullptr),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(message)))
        << message;
  }
  // POST and GET on the same pattern are two routes, not a duplicate.
  auto both =
      MustStart({}, {{"GET", "/a", false, "", handler}, {"POST", "/a", false, "", handler}});
  EXPECT_NE(both, nullptr);
}

TEST(HttpServerTest, LoopbackServerRefusesForeignHostHeaders) {
  Fixture fixture;
  auto server = MustStart({}, fixture.Routes());
  ASSERT_NE(server, nullptr);
  const std::string port = std::to_string(server->port());
  for (const std::string& host : std::vector<std::string>{
           "attacker.example", "attacker.example:" + port, "127.0.0.1.nip.io", "10.0.0.1",
           "localhost.attacker.example", "[::2]:" + port, "0x7f.0.0.1", "2130706433"}) {
    const RawResult raw = RawExchange(
        server->port(), "GET /healthz HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(raw.response, HasSubstr("HTTP/1.1 421")) << host;
    EXPECT_THAT(raw.response, HasSubstr("misdirected_request")) << host;
  }
  for (const std::string& host :
       std::vector<std::string>{"127.0.0.1", "127.0.0.1:" + port, "localhost", "LOCALHOST:" + port,
                                "[::1]:" + port, "127.1.2.3"}) {
    const RawResult raw = RawExchange(
        server->port(), "GET /healthz HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(raw.response, HasSubstr("HTTP/1.1 200")) << host;
  }
  // HTTP/1.0 without a Host header.
  const RawResult no_host = RawExchange(server->port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_THAT(no_host.response, HasSubstr(" 200 "));
}

TEST(HttpServerTest, IsLoopbackHost) {
  for (const char* host : {"127.0.0.1", "127.255.0.9", "::1", "[::1]", "localhost", "LocalHost",
                           "localhost.", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host :
       {"", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com", "localhost.example",
        "0177.0.0.1", "2130706433", "127.1", "::2", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(HttpServerTest, ReadTokenFileChecksModeSizeAndContent) {
  testing::TempDir dir;
  const auto write = [&](const std::string& name, const std::string& contents, mode_t mode) {
    const std::string path = dir.Sub(name);
    testing::WriteTestFile(path, contents);
    ::chmod(path.c_str(), mode);
    return path;
  };
  TW_ASSERT_OK_AND_ASSIGN(const std::string token, ReadTokenFile(write("ok", "abc123\n", 0600)));
  EXPECT_EQ(token, "abc123");
  TW_ASSERT_OK_AND_ASSIGN(const std::string bare, ReadTokenFile(write("bare", "abc", 0400)));
  EXPECT_EQ(bare, "abc");
  TW_ASSERT_OK_AND_ASSIGN(const std::string crlf, ReadTokenFile(write("crlf", "abc\r\n", 0600)));
  EXPECT_EQ(crlf, "abc");

  EXPECT_THAT(ReadTokenFile(write("world", "abc\n", 0644)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("0644")));
  EXPECT_THAT(ReadTokenFile(write("group", "abc\n", 0640)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("0640")));
  EXPECT_THAT(ReadTokenFile(write("empty", "", 0600)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ReadTokenFile(write("newline", "\n", 0600)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ReadTokenFile(write("big", std::string(4097, 'a'), 0600)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("4096")));
  TW_EXPECT_OK(ReadTokenFile(write("max", std::string(4096, 'a') + "\n", 0600)));
  EXPECT_THAT(ReadTokenFile(write("two-lines", "abc\ndef\n", 0600)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("visible ASCII")));
  EXPECT_THAT(ReadTokenFile(write("space", "a b", 0600)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("visible ASCII")));
  EXPECT_THAT(ReadTokenFile(dir.Sub("missing")), StatusIs(StatusCode::kNotFound, HasSubstr("")));
  const std::string subdir = dir.Sub("subdir");
  ::mkdir(subdir.c_str(), 0700);
  EXPECT_THAT(ReadTokenFile(subdir),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
}

// ---- Failures, concurrency, shutdown --------------------------------------------------------

TEST(HttpServerTest, HandlerExceptionIs500WithoutDetails) {
  Fixture fixture;
  auto server = MustStart({}, fixture.Routes());
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  auto result = client.Get("/v1/boom");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 500);
  EXPECT_EQ(ErrorOf(result)["message"], "internal error");
  EXPECT_THAT(result->body, Not(HasSubstr("passwd")));
  for (const auto& [name, value] : result->headers) {
    EXPECT_THAT(value, Not(HasSubstr("passwd"))) << name;
  }
  ExpectSecurityHeaders(result);
  ExpectStillServing(*server);
}

TEST(HttpServerTest, ConcurrentRequests) {
  Fixture fixture;
  ServerOptions options;
  options.threads = 4;
  MetricsRegistry registry;
  auto server = MustStart(options, fixture.Routes(), &registry);
  ASSERT_NE(server, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = ClientFor(*server);
      for (int i = 0; i < kPerThread; ++i) {
        auto result = client.Get(("/v1/runs/r" + std::to_string(t) + "-" + std::to_string(i)));
        if (result && result->status == 200 &&
            nlohmann::json::parse(result->body)["name"] ==
                "r" + std::to_string(t) + "-" + std::to_string(i)) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  // One route label for all those paths: cardinality follows the route table, not the input.
  EXPECT_THAT(registry.Render(),
              HasSubstr("transferwatch_http_requests_total{route=\"/v1/runs/{name}\",method="
                        "\"GET\",code=\"200\"} " +
                        std::to_string(kThreads * kPerThread) + "\n"));
}

TEST(HttpServerTest, StopWaitsForInFlightRequests) {
  Fixture fixture;
  auto server = MustStart({}, fixture.Routes());
  ASSERT_NE(server, nullptr);
  int status = 0;
  std::thread client_thread([&] {
    auto client = ClientFor(*server);
    auto result = client.Get("/v1/slow");
    if (result) status = result->status;
  });
  while (!fixture.slow_started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fixture.slow_release = true;
  });
  server->Stop();
  EXPECT_TRUE(fixture.slow_done.load());  // Stop returned only after the handler finished
  client_thread.join();
  releaser.join();
  EXPECT_EQ(status, 200);
  server->Stop();  // idempotent
  const RawResult after =
      RawExchange(server->port(), "GET /healthz HTTP/1.0\r\n\r\n", std::chrono::milliseconds(500));
  EXPECT_EQ(after.response, "");
}

// ---- Metrics --------------------------------------------------------------------------------

std::string PromtoolPath() {
  if (const char* env = std::getenv("TW_PROMTOOL"); env != nullptr && *env != '\0') return env;
  return TW_DATA_DIR "/../.cache/prometheus/promtool";
}

TEST(HttpServerTest, MetricsPassPromtool) {
  const std::string promtool = PromtoolPath();
  ASSERT_EQ(::access(promtool.c_str(), X_OK), 0)
      << "promtool not found at " << promtool
      << ": run scripts/setup (it downloads it to .cache/prometheus/) or set TW_PROMTOOL";

  MetricsRegistry registry;
  auto& jobs = registry.AddCounter("transferwatch_jobs_total", "Jobs finished, by outcome.",
                                   {"outcome", "preset"});
  jobs.WithLabelValues({"ok", "imagenet-val"}).Inc(3);
  jobs.WithLabelValues({"failed", "quote\"back\\slash\nnewline\xff"}).Inc();
  registry.AddGauge("transferwatch_jobs_queued", "Jobs waiting for a worker.")
      .WithLabelValues()
      .Set(7.5);
  registry
      .AddGauge("transferwatch_last_scan_timestamp_seconds",
                "Unix time of the last completed rescan.")
      .WithLabelValues()
      .Set(1.7e9);
  auto& sizes = registry.AddHistogram("transferwatch_checkpoint_size_bytes",
                                      "Sizes of hashed checkpoints.", {1e6, 1e8, 1e10}, {"kind"});
  sizes.WithLabelValues({"torchscript"}).Observe(4.5e7);
  sizes.WithLabelValues({"safetensors"}).Observe(2e10);
  registry.AddCounter("transferwatch_never_incremented_total", "Stays at zero.");

  Fixture fixture;
  std::vector<Route> routes = fixture.Routes();
  routes.push_back({"GET", "/metrics", false, "Prometheus metrics.", [&](const HttpRequest&) {
                      HttpResponse response;
                      response.content_type = std::string(kPrometheusContentType);
                      response.body = registry.Render();
                      return response;
                    }});
  auto server = MustStart({}, routes, &registry);
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  ASSERT_TRUE(client.Get("/v1/runs"));
  ASSERT_TRUE(client.Get("/nope"));
  ASSERT_TRUE(client.Get("/v1/boom"));
  ASSERT_TRUE(client.Post("/v1/runs", "", "application/json"));
  RawExchange(server->port(), "garbage\r\n\r\n");
  auto result = client.Get("/metrics");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), kPrometheusContentType);
  const std::string text = result->body;
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_THAT(text, HasSubstr("route=\"unmatched\",method=\"GET\",code=\"404\""));
  EXPECT_THAT(text, HasSubstr("route=\"/v1/boom\",method=\"GET\",code=\"500\""));
  EXPECT_THAT(text, HasSubstr("route=\"/v1/runs\",method=\"POST\",code=\"405\""));
  EXPECT_THAT(text, HasSubstr("code=\"400\""));
  EXPECT_THAT(text, HasSubstr("transferwatch_http_request_duration_seconds_bucket{route="
                              "\"/v1/runs\",le=\"+Inf\"} 2\n"));  // GET 200 and POST 405

  testing::TempDir dir;
  const std::string file = dir.Sub("metrics.txt");
  testing::WriteTestFile(file, text);
  const std::string command = "'" + promtool + "' check metrics < '" + file + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  const int rc = ::pclose(pipe);
  EXPECT_EQ(rc, 0) << output << "\n--- metrics ---\n" << text;
  EXPECT_EQ(output, "") << "promtool lint findings:\n" << output;
}

}  // namespace
}  // namespace tw::api
