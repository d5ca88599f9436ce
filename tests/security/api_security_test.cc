// The daemon's HTTP API attacked from outside (research H1, H2, H4, H5, H7, F7; MLflow
// CVE-2026-2652, CVE-2025-14279, CVE-2023-1177 and its traversal successors): a real Daemon runs
// in this process on a real PostgreSQL, with its HTTP server on 127.0.0.1 port 0 and a bearer
// token. The route table is the daemon's own (Daemon::ApiRoutes, built as Run() builds the one
// it serves), so a route added later is in the matrix without anyone remembering to add it.
//
// What a request may never do: reach a protected route without the exact token in the
// Authorization header, be answered for a Host that is not loopback (DNS rebinding), get a
// wildcard CORS header, make the server fail on a hostile parameter, or make the daemon open a
// file outside its watch roots. The last is checked with inotify on the folder that holds a
// canary checkpoint outside the root: an open of it by any process is an IN_OPEN event.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/sha256.h"
#include "daemon/daemon.h"
#include "store/pg_store.h"
#include "tests/security/open_watch.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/httplib.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"

namespace tw {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::tw::testing::TempDir;
using ::tw::testing::WaitFor;

constexpr char kToken[] = "Zq7-api-token_0123456789abcdefXYZ";

// The routes anyone may call without the token, by method and pattern. A route that becomes
// public must be added here on purpose (the test fails otherwise).
const std::set<std::string> kPublicRoutes = {"GET /healthz", "GET /login", "POST /login"};

std::string RouteName(const api::Route& route) { return route.method + " " + route.pattern; }

// A request path for a pattern: each {param} becomes a plausible value.
std::string ConcretePath(const std::string& pattern) {
  std::string out;
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '{') {
      const size_t close = pattern.find('}', i);
      out += "run";  // the run of good.pt, which the intake registers at start
      i = close + 1;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

// One raw HTTP/1.1 exchange on a fresh connection (the Host header is ours to choose); reads
// until the server closes or `timeout` passes.
std::string RawExchange(int port, const std::string& request,
                        std::chrono::milliseconds timeout = 3000ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

class ApiSecurityTest : public testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    ::chmod(dir_.path().c_str(), 0755);
    root_ = dir_.Sub("watch");
    outside_ = dir_.Sub("outside");
    std::filesystem::create_directories(root_ + "/run");
    std::filesystem::create_directories(outside_ + "/run");
    // The canary: a perfectly good checkpoint, outside every root. If anything registered it,
    // it would be a checkpoint row with this hash.
    canary_ = outside_ + "/run/canary.pt";
    ASSERT_TRUE(testing::WriteZip(canary_, testing::TorchScriptEntries("CANARY-WEIGHTS")));
    canary_sha256_ = Sha256Hex(testing::ReadTestFile(canary_));
    good_ = root_ + "/run/good.pt";
    ASSERT_TRUE(testing::WriteZip(good_, testing::TorchScriptEntries("good weights")));
    // Not matched by the intake's patterns (*.pt, *.pth): only a push through the API registers
    // it, which tells the tests whether a push got through.
    pushed_ = root_ + "/run/pushed.ckpt";
    ASSERT_TRUE(testing::WriteZip(pushed_, testing::TorchScriptEntries("pushed weights")));
    // Ways out of the root that exist on disk: a file symlink, an arch.pt symlink and a
    // symlinked run folder.
    std::filesystem::create_symlink(canary_, root_ + "/run/link.pt");
    std::filesystem::create_symlink(canary_, root_ + "/run/arch.pt");
    std::filesystem::create_symlink(outside_ + "/run", root_ + "/evil-run");
    token_file_ = dir_.Sub("token");
    testing::WriteTestFile(token_file_, std::string(kToken) + "\n");
    ::chmod(token_file_.c_str(), 0600);
  }

  void TearDown() override {
    StopDaemon();
    PgTest::TearDown();
  }

  void StartDaemon() {
    daemon::DaemonDeps deps;
    deps.config.watch_roots = {root_};
    deps.config.settle = 200ms;
    deps.config.rescan_interval = 500ms;
    deps.config.slots = 0;  // nothing is evaluated: the API and the registrar are under test
    deps.config.plan_interval = 1s;
    deps.config.poll_interval = 500ms;
    deps.config.api_port = 0;
    deps.config.api_token_file = token_file_;
    const std::string conninfo = db_->conninfo();
    deps.connect = [conninfo]() -> StatusOr<std::unique_ptr<QueueStore>> {
      TW_ASSIGN_OR_RETURN(auto store, PgStore::Connect(conninfo));
      return std::unique_ptr<QueueStore>(std::move(store));
    };
    // No LISTEN connection: the daemon polls, which is all these tests need.
    deps.clock = &RealClock();
    deps.host = "security-test-host";
    deps.evaluator = "/nonexistent/transferwatch-eval";
    deps.work_dir = dir_.Sub("work");
    std::filesystem::create_directories(deps.work_dir);
    deps.schema_version = "test";
    daemon_ = std::make_unique<daemon::Daemon>(std::move(deps));
    thread_ = std::thread([this] { run_status_ = daemon_->Run(); });
    ASSERT_TRUE(WaitFor([&] { return daemon_->api_port() > 0; }, 20s)) << run_status_.ToString();
    port_ = daemon_->api_port();
    // The intake's first scan registers run/good.pt (so that /runs/run is a real page).
    ASSERT_TRUE(WaitFor([&] { return Registered("run/good.pt"); }, 20s));
  }

  bool Registered(const std::string& display_name) {
    for (const CheckpointInfo& c : Checkpoints()) {
      if (c.display_name == display_name) return true;
    }
    return false;
  }

  void StopDaemon() {
    if (!daemon_) return;
    daemon_->Stop();
    thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
    daemon_.reset();
  }

  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(std::chrono::seconds(10));
    return client;
  }

  // Every checkpoint row, for the "nothing outside the root was recorded" checks.
  std::vector<CheckpointInfo> Checkpoints() {
    auto list = store_->ListCheckpoints(CheckpointFilter{});
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : std::vector<CheckpointInfo>{};
  }

  void ExpectCanaryNeverRecorded() {
    for (const CheckpointInfo& c : Checkpoints()) {
      EXPECT_NE(c.sha256.value_or(""), canary_sha256_) << c.display_name;
      EXPECT_THAT(c.display_name, Not(HasSubstr("canary"))) << c.display_name;
      EXPECT_THAT(c.display_name, Not(HasSubstr("link"))) << c.display_name;
      EXPECT_THAT(c.display_name, Not(HasSubstr("evil-run"))) << c.display_name;
    }
  }

  TempDir dir_;
  std::string root_, outside_, canary_, canary_sha256_, good_, pushed_, token_file_;
  std::unique_ptr<daemon::Daemon> daemon_;
  std::thread thread_;
  Status run_status_;
  int port_ = 0;
};

// Sends `method path` with `headers` (and a small JSON body for POST).
httplib::Result Send(httplib::Client& client, const std::string& method, const std::string& path,
                     const httplib::Headers& headers) {
  if (method == "POST") return client.Post(path.c_str(), headers, "{}", "application/json");
  if (method == "HEAD") return client.Head(path.c_str(), headers);
  return client.Get(path.c_str(), headers);
}

void ExpectNoWildcardCors(const httplib::Result& result, const std::string& what) {
  ASSERT_TRUE(result) << what;
  EXPECT_FALSE(result->has_header("Access-Control-Allow-Origin")) << what;
  EXPECT_FALSE(result->has_header("Access-Control-Allow-Credentials")) << what;
}

TEST_F(ApiSecurityTest, EveryRouteInTheDaemonsTableNeedsTheExactBearerToken) {
  StartDaemon();
  const std::vector<api::Route> routes = daemon_->ApiRoutes();
  ASSERT_GE(routes.size(), 15u);
  std::set<std::string> public_routes;
  for (const api::Route& route : routes) {
    if (route.public_route) public_routes.insert(RouteName(route));
  }
  EXPECT_EQ(public_routes, kPublicRoutes) << "a route became public (or stopped being public)";

  const std::string token = kToken;
  std::string same_length_wrong = token;
  same_length_wrong.back() = same_length_wrong.back() == 'Z' ? 'Y' : 'Z';
  std::string other_case = token;
  other_case[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(other_case[0])));
  const std::vector<std::pair<std::string, httplib::Headers>> rejected = {
      {"no token", {}},
      {"wrong token of the same length", {{"Authorization", "Bearer " + same_length_wrong}}},
      {"token in another case", {{"Authorization", "Bearer " + other_case}}},
      {"shorter token", {{"Authorization", "Bearer short"}}},
      {"longer token", {{"Authorization", "Bearer " + token + token}}},
      {"prefix of the token", {{"Authorization", "Bearer " + token.substr(0, token.size() / 2)}}},
      {"token minus its last character",
       {{"Authorization", "Bearer " + token.substr(0, token.size() - 1)}}},
      {"token plus a character", {{"Authorization", "Bearer " + token + "x"}}},
      {"empty bearer", {{"Authorization", "Bearer "}}},
      {"token without the scheme", {{"Authorization", token}}},
      {"token as Basic", {{"Authorization", "Basic " + token}}},
      {"token in another header", {{"X-Api-Token", token}}},
      {"forged session cookie", {{"Cookie", "tw_session=1.2.abcdef"}}},
      {"token as a cookie", {{"Cookie", "tw_session=" + token}}},
  };
  auto client = Client();
  for (const api::Route& route : routes) {
    const std::string name = RouteName(route);
    SCOPED_TRACE(name);
    const std::string path = ConcretePath(route.pattern);
    std::vector<std::string> methods = {route.method};
    if (route.method == "GET") methods.push_back("HEAD");
    for (const std::string& method : methods) {
      std::vector<std::pair<std::string, httplib::Headers>> attempts = rejected;
      for (const auto& [what, headers] : attempts) {
        auto result = Send(client, method, path, headers);
        ASSERT_TRUE(result) << method << " " << what;
        ExpectNoWildcardCors(result, name + " " + what);
        if (route.public_route) {
          EXPECT_NE(result->status, 401) << method << " " << what;
          EXPECT_LT(result->status, 500) << method << " " << what;
          continue;
        }
        if (route.browser_page && method != "POST") {
          // A person at a browser is sent to the login form, never shown the page.
          EXPECT_EQ(result->status, 303) << method << " " << what;
          EXPECT_THAT(result->get_header_value("Location"), StartsWith("/login?next="));
        } else {
          EXPECT_EQ(result->status, 401) << method << " " << what;
          EXPECT_EQ(result->get_header_value("WWW-Authenticate"), "Bearer");
        }
        EXPECT_THAT(result->body, Not(HasSubstr(token)));
      }
      // The token is never taken from the query string, under any of the usual names.
      for (const std::string key : {"token", "access_token", "api_token", "bearer"}) {
        auto query = Send(client, method, path + "?" + key + "=" + token, {});
        ASSERT_TRUE(query);
        if (route.public_route) continue;
        EXPECT_EQ(query->status, route.browser_page && method != "POST" ? 303 : 401)
            << method << " ?" << key;
      }
      auto good = Send(client, method, path, {{"Authorization", "Bearer " + token}});
      ASSERT_TRUE(good) << method;
      ExpectNoWildcardCors(good, name + " with the token");
      EXPECT_NE(good->status, 401) << method << " " << good->body;
      EXPECT_NE(good->status, 403) << method << " " << good->body;
      EXPECT_THAT(good->body, Not(HasSubstr("no such endpoint"))) << method;
      EXPECT_NE(good->status, 405) << method << " " << good->body;
      // /readyz may say 503 (not ready) for its own reasons; nothing else may fail on the server.
      if (route.pattern != "/readyz") {
        EXPECT_LT(good->status, 500) << method << " " << good->body;
      }
    }
  }

  // Paths that are not in the table answer 401 too: the table cannot be probed without the token.
  for (const std::string path : {"/v1/admin", "/v2/status", "/v1/jobs/1/../../status", "/x"}) {
    auto unknown = client.Get(path.c_str());
    ASSERT_TRUE(unknown) << path;
    EXPECT_EQ(unknown->status, 401) << path;
  }

  // The index the daemon publishes at /v1 is a view of the same table.
  auto index = client.Get("/v1", {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200);
  std::set<std::string> served;
  for (const api::Route& route : routes) served.insert(RouteName(route));
  for (const auto& entry : nlohmann::json::parse(index->body)["routes"]) {
    const std::string name =
        entry["method"].get<std::string>() + " " + entry["path"].get<std::string>();
    EXPECT_EQ(served.count(name), 1u) << name << " is in /v1 but not in the served table";
    EXPECT_EQ(entry["public"].get<bool>(), kPublicRoutes.count(name) == 1) << name;
  }
}

TEST_F(ApiSecurityTest, ForeignHostHeadersAreMisdirectedAndCrossSiteWritesAreRefused) {
  StartDaemon();
  const std::string port = std::to_string(port_);
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  // DNS rebinding: attacker.example resolving to 127.0.0.1 reaches the socket, but the browser
  // still sends its own name. Refused on every route, with or without the token.
  for (const api::Route& route : daemon_->ApiRoutes()) {
    const std::string target = ConcretePath(route.pattern);
    for (const std::string& host : std::vector<std::string>{
             "attacker.example", "attacker.example:" + port, "127.0.0.1.nip.io:" + port,
             "localhost.attacker.example", "10.0.0.1:" + port, "[::2]:" + port}) {
      const std::string request =
          route.method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + auth +
          (route.method == "POST" ? "Content-Type: application/json\r\nContent-Length: 2\r\n"
                                  : "") +
          "Connection: close\r\n\r\n" + (route.method == "POST" ? "{}" : "");
      const std::string response = RawExchange(port_, request);
      EXPECT_THAT(response, StartsWith("HTTP/1.1 421")) << RouteName(route) << " Host: " << host;
      EXPECT_THAT(response, Not(HasSubstr("Access-Control-Allow-Origin")));
    }
  }
  for (const std::string& host :
       std::vector<std::string>{"127.0.0.1:" + port, "localhost:" + port, "127.0.0.1",
                                "LOCALHOST:" + port, "[::1]:" + port}) {
    const std::string response =
        RawExchange(port_, "GET /v1/status HTTP/1.1\r\nHost: " + host + "\r\n" + auth +
                               "Connection: close\r\n\r\n");
    EXPECT_THAT(response, StartsWith("HTTP/1.1 200")) << host;
  }

  // A cross-site page can send a "simple" request (text/plain, no custom header) with the
  // user's cookies, but never the Authorization header: every state-changing route refuses it.
  const std::string body = "{\"path\":\"" + pushed_ + "\"}";
  for (const api::Route& route : daemon_->ApiRoutes()) {
    if (route.method != "POST") continue;
    const std::string request = "POST " + route.pattern + " HTTP/1.1\r\nHost: 127.0.0.1:" + port +
                                "\r\nOrigin: http://attacker.example\r\n"
                                "Content-Type: text/plain\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                body;
    const std::string response = RawExchange(port_, request);
    SCOPED_TRACE(RouteName(route) + "\n" + response);
    EXPECT_THAT(response, Not(HasSubstr("Access-Control-Allow-Origin")));
    EXPECT_THAT(response, Not(HasSubstr("Set-Cookie: tw_session=")))
        << "a cross-site login must not set a session";
    if (route.public_route) {
      // POST /login: refused unless it is the login form with the right token.
      EXPECT_THAT(response, AnyOf(StartsWith("HTTP/1.1 415"), StartsWith("HTTP/1.1 400"),
                                  StartsWith("HTTP/1.1 401")));
    } else {
      EXPECT_THAT(response, StartsWith("HTTP/1.1 401"));
    }
  }
  // A CORS preflight is not answered with permission either.
  auto client = Client();
  for (const api::Route& route : daemon_->ApiRoutes()) {
    httplib::Request preflight;
    preflight.method = "OPTIONS";
    preflight.path = ConcretePath(route.pattern);
    preflight.headers = {{"Origin", "http://attacker.example"},
                         {"Access-Control-Request-Method", "POST"},
                         {"Access-Control-Request-Headers", "authorization"}};
    auto result = client.send(preflight);
    ExpectNoWildcardCors(result, "OPTIONS " + preflight.path);
    if (result) {
      EXPECT_NE(result->status / 100, 2) << "OPTIONS " << preflight.path;
    }
  }
  // The text/plain push registered nothing (the registrar takes a push within milliseconds).
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(Registered("run/pushed.ckpt"));
}

// H7 / F7: every path-taking input of the API against the MLflow traversal corpus. The body of
// POST /v1/checkpoints is the only place the API accepts a filesystem path; the route
// parameters ({name}) are names, never joined into paths.
TEST_F(ApiSecurityTest, TraversalCorpusIsRefusedAndNothingOutsideTheRootIsOpened) {
  testing::OpenWatch opens(outside_ + "/run");
  StartDaemon();
  auto client = Client();
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  const std::string canary_rel = "outside/run/canary.pt";
  const std::string base = dir_.path();
  using namespace std::string_literals;  // NOLINT: "..."s keeps the NUL bytes
  const std::vector<std::string> corpus = {
      root_ + "/run/../../" + canary_rel,
      root_ + "/run/%2e%2e%2f%2e%2e%2f" + canary_rel,
      root_ + "/run/%2e%2e/%2e%2e/" + canary_rel,
      root_ + "/run/%252e%252e%252f%252e%252e%252f" + canary_rel,
      root_ + "/run/..\\..\\outside\\run\\canary.pt",
      root_ + "/run/\\..\\..\\" + canary_rel,
      "\\..\\..\\" + canary_rel,
      root_ + "/run/..;/..;/" + canary_rel,
      root_ + "/run/good.pt#/../../../" + canary_rel,
      root_ + "/run/%23/../../" + canary_rel,
      root_ + "/run/good.pt?x=/../../../" + canary_rel,
      canary_,
      "/etc/passwd",
      "/proc/self/environ",
      "//" + canary_.substr(1),
      base + "/./outside/./run/canary.pt",
      root_ + "/run/good.pt\0/../../../"s + canary_rel,
      canary_ + "\0.pt"s,
      root_ + "/run/good.pt%00/../../../" + canary_rel,
      "file://" + canary_,
      "file:" + canary_,
      "file:///etc/passwd",
      "FILE://localhost" + canary_,
      "../" + canary_rel,
      "run/../../" + canary_rel,
      "~/" + canary_rel,
      root_ + "/run/link.pt",
      root_ + "/run/arch.pt",
      root_ + "/evil-run/canary.pt",
      root_ + "/evil-run/../evil-run/canary.pt",
      root_ + "/run",
      root_,
      root_ + "/run/good.pt/",
      root_ + "/run/good.pt/.",
      "",
      std::string(5000, '/'),
  };
  for (const std::string& path : corpus) {
    SCOPED_TRACE(::testing::PrintToString(path));
    const nlohmann::json body = {{"path", path}};
    auto result = client.Post("/v1/checkpoints", auth, body.dump(), "application/json");
    ASSERT_TRUE(result);
    EXPECT_THAT(result->status, AnyOf(400, 403, 404)) << result->body;
    auto error = nlohmann::json::parse(result->body, nullptr, false);
    ASSERT_TRUE(error.is_object()) << result->body;
    EXPECT_EQ(error["error"]["field"], "path") << result->body;
    EXPECT_FALSE(error["error"]["message"].get<std::string>().empty());
    EXPECT_THAT(result->body, Not(HasSubstr("CANARY-WEIGHTS")));
  }
  // The path must be a JSON string: other types and smuggled extra fields are refused too.
  for (const std::string& body :
       {std::string(R"({"path":["/etc/passwd"]})"), std::string(R"({"path":{"file":"x"}})"),
        std::string(R"({"path":null})"), R"({"path":")" + good_ + R"(","arch":"/etc/passwd"})",
        std::string(R"(["/etc/passwd"])")}) {
    auto result = client.Post("/v1/checkpoints", auth, body, "application/json");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << body << " -> " << result->body;
  }

  // Route parameters and queries are names, never paths: the corpus there finds nothing.
  const std::vector<std::string> names = {"..%2f..%2f" + canary_rel,
                                          "%2e%2e%2f%2e%2e%2f",
                                          "%252e%252e%252f",
                                          "..%5c..%5c",
                                          "%5c..%5c",
                                          "..;",
                                          "%00",
                                          "run%00.pt",
                                          "%23%2f..%2f..",
                                          "file:%2f%2f%2fetc%2fpasswd"};
  for (const api::Route& route : daemon_->ApiRoutes()) {
    if (route.pattern.find('{') == std::string::npos) continue;
    const std::string prefix = route.pattern.substr(0, route.pattern.find('{'));
    for (const std::string& name : names) {
      const std::string target = prefix + name;
      auto result = route.method == "GET" ? client.Get(target.c_str(), auth)
                                          : client.Post(target.c_str(), auth, "{}", "text/plain");
      ASSERT_TRUE(result) << target;
      EXPECT_THAT(result->status, AnyOf(400, 404)) << target << " -> " << result->body;
      EXPECT_THAT(result->body, Not(HasSubstr("CANARY-WEIGHTS"))) << target;
      EXPECT_THAT(result->body, Not(HasSubstr("root:x:0:0"))) << target;
    }
  }
  // Undecodable and dot-segment request paths are refused before any route sees them.
  for (const std::string& target :
       {std::string("/runs/../v1/status"), std::string("/runs/%2e%2e/v1/status"),
        std::string("/runs/a%00b"), std::string("/runs/%zz")}) {
    const std::string response = RawExchange(
        port_, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken +
                   "\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(response, AnyOf(StartsWith("HTTP/1.1 400"), StartsWith("HTTP/1.1 404")))
        << target << "\n"
        << response;
  }

  // The one good push is registered: the registrar ran after every refused one, and the intake
  // has rescanned the root (with its three ways out) several times.
  auto pushed = client.Post("/v1/checkpoints", auth, nlohmann::json{{"path", pushed_}}.dump(),
                            "application/json");
  ASSERT_TRUE(pushed);
  EXPECT_EQ(pushed->status, 202) << pushed->body;
  ASSERT_TRUE(WaitFor([&] { return Registered("run/pushed.ckpt"); }, 20s));
  std::this_thread::sleep_for(1200ms);  // two more rescans of the symlinks
  ExpectCanaryNeverRecorded();
  EXPECT_EQ(opens.Drain(), std::set<std::string>{})
      << "something opened a file in the folder outside the watch root";
}

// H4: hostile query parameters on every JSON route: out-of-range, non-numeric, SQL and shell
// metacharacters, NUL, confusables. A 400 names the parameter; nothing is a server error.
TEST_F(ApiSecurityTest, HostileQueryParametersAreRefusedNamingThemAndNeverFailTheServer) {
  StartDaemon();
  auto client = Client();
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  const std::vector<std::pair<std::string, std::string>> numeric = {
      {"limit", "1e9"},       {"limit", "-1"},   {"limit", "0"}, {"limit", "99999999999999999999"},
      {"limit", "10%00"},     {"limit", "0x10"}, {"top", "-5"},  {"delta", "NaN"},
      {"unacknowledged", "2"}};
  const std::vector<std::pair<std::string, std::string>> text = {
      {"checkpoint", "%27%20OR%201%3D1--"},
      {"run", "%22%3B%20DROP%20TABLE%20jobs%3B--"},
      {"dataset", "%00"},
      {"state", "done%27--"},
      {"kind", "%E2%80%AEregression"},
      {"since", "-1d"},
      {"sort", "top1%3Bselect"},
      {"reference", "%D1%96mage%D0%BEet"},
      {"checkpoint", "..%2F..%2Fetc%2Fpasswd"},
      {"run", std::string(5000, 'a')}};
  for (const api::Route& route : daemon_->ApiRoutes()) {
    if (route.method != "GET" || route.browser_page) continue;
    for (const auto& [key, value] : text) {
      const std::string target = route.pattern + "?" + key + "=" + value;
      auto result = client.Get(target.c_str(), auth);
      ASSERT_TRUE(result) << target;
      EXPECT_LT(result->status, 500) << target << " -> " << result->body;
      EXPECT_THAT(result->body, Not(HasSubstr("syntax error"))) << target;
      if (result->status == 400) {
        // The message names the parameter or quotes the refused value.
        const std::string decoded = httplib::detail::decode_url(value, true);
        EXPECT_THAT(result->body, AnyOf(HasSubstr(key), HasSubstr(decoded.substr(0, 8))))
            << target << " -> " << result->body;
      }
    }
    for (const auto& [key, value] : numeric) {
      const std::string target = route.pattern + "?" + key + "=" + value;
      auto result = client.Get(target.c_str(), auth);
      ASSERT_TRUE(result) << target;
      EXPECT_LT(result->status, 500) << target << " -> " << result->body;
      if (route.summary.find(key + "=") != std::string::npos) {
        // A route that documents the parameter validates it.
        EXPECT_EQ(result->status, 400) << target << " -> " << result->body;
        EXPECT_THAT(result->body, HasSubstr(key)) << target << " -> " << result->body;
      }
    }
  }
}

// H1: the API is on loopback unless configured otherwise, and a wider bind without a token is
// refused at start (a real transferwatchd, not only the server class).
TEST_F(ApiSecurityTest, DefaultBindIsLoopbackAndAWideBindWithoutATokenDoesNotStart) {
  EXPECT_EQ(daemon::DaemonConfig{}.api_bind, "127.0.0.1");
  for (const std::string bind : {"0.0.0.0", "::", "10.1.2.3"}) {
    const std::string config = dir_.Sub("wide.toml");
    testing::WriteTestFile(config, "[watch]\nroots = [\"" + root_ +
                                       "\"]\n[workers]\nslots = 0\n[api]\nport = 0\nbind = \"" +
                                       bind + "\"\n");
    testing::DaemonProcess wide(
        TW_DAEMON_PATH,
        {"--config", config, "--database", db_->conninfo(), "--state-dir", dir_.Sub("state-wide")},
        dir_.Sub("wide.log"));
    EXPECT_EQ(wide.Wait(30s), std::optional<int>(2)) << bind << "\n" << wide.Log();
    EXPECT_THAT(wide.Log(), HasSubstr("api.token_file is required")) << bind;
    EXPECT_THAT(wide.Log(), Not(HasSubstr("HTTP API on"))) << bind;
  }
  StartDaemon();
  // Listening on loopback only: the machine's other addresses do not answer.
  std::vector<std::string> other_addresses;
  ifaddrs* interfaces = nullptr;
  ASSERT_EQ(::getifaddrs(&interfaces), 0);
  for (ifaddrs* i = interfaces; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, ip, sizeof(ip));
    if (std::string(ip).rfind("127.", 0) != 0) other_addresses.push_back(ip);
  }
  ::freeifaddrs(interfaces);
  for (const std::string& ip : other_addresses) {
    httplib::Client other(ip, port_);
    other.set_connection_timeout(std::chrono::seconds(2));
    EXPECT_FALSE(other.Get("/healthz")) << "the API answered on " << ip;
  }
  std::printf("[bind] checked %zu non-loopback address(es)\n", other_addresses.size());
  auto local = Client().Get("/healthz");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200);
}

}  // namespace
}  // namespace tw
