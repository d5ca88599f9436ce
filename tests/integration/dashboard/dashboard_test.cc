// The dashboard over real HTTP: a real transferwatchd on a seeded PostgreSQL
// (tests/testing/dashboard_fixture.h). Status codes, the page policy headers, escaping of a run
// called "<script>", the points in the SVG charts, the login and cookie flow with a token, and
// `transferwatch plot` writing the very SVG the pages inline.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "api/http_server.h"
#include "tests/testing/cli.h"
#include "tests/testing/dashboard_fixture.h"
#include "tests/testing/httplib.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The response head exactly as sent: httplib 0.11's client percent-decodes header values, so
// an encoded Location is checked over a plain socket.
std::string RawResponseHead(int port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n = 0;
      while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, n);
    }
  }
  ::close(fd);
  return response.substr(0, response.find("\r\n\r\n") + 2);
}

// The first <svg ...>...</svg> of a page.
std::string FirstSvg(const std::string& page) {
  const size_t start = page.find("<svg");
  const size_t end = page.find("</svg>", start);
  if (start == std::string::npos || end == std::string::npos) return "";
  return page.substr(start, end + 6 - start);
}

class DashboardTest : public ::tw::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    ::tw::testing::DashboardSeed seed(*store_);
    seed.SeedAll();
  }

  void StartDaemon(const std::optional<std::string>& token) {
    daemon_ = std::make_unique<::tw::testing::DashboardDaemon>(
        TW_DAEMON_PATH, TW_FAKE_EVALUATOR_PATH, db_->conninfo(), dir_, token);
    ASSERT_GT(daemon_->port(), 0) << daemon_->Log();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", daemon_->port());
    client_->set_read_timeout(30, 0);
  }

  httplib::Result Get(const std::string& path, const httplib::Headers& headers = {}) {
    auto result = client_->Get(path.c_str(), headers);
    EXPECT_TRUE(result) << "GET " << path << ": " << httplib::to_string(result.error());
    return result;
  }

  httplib::Result PostForm(const std::string& path, const std::string& body,
                           const httplib::Headers& headers = {}) {
    auto result = client_->Post(path.c_str(), headers, body, "application/x-www-form-urlencoded");
    EXPECT_TRUE(result) << "POST " << path;
    return result;
  }

  int64_t GoodRunFlags() {
    FlagFilter filter;
    filter.run_glob = "good-run";
    auto flags = store_->ListFlags(filter);
    EXPECT_TRUE(flags.ok());
    return flags.ok() ? static_cast<int64_t>(flags->size()) : -1;
  }

  ::tw::testing::TempDir dir_;
  std::unique_ptr<::tw::testing::DashboardDaemon> daemon_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardTest, PagesAreOpenOnLoopbackWithoutATokenAndEscapeNames) {
  ASSERT_EQ(GoodRunFlags(), 1) << "the seed should raise one regression";
  StartDaemon(std::nullopt);

  auto index = Get("/");
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200) << index->body;
  EXPECT_THAT(index->get_header_value("Content-Type"), StartsWith("text/html"));
  EXPECT_EQ(index->get_header_value("Content-Security-Policy"), api::kBrowserPagePolicy);
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(index->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_THAT(index->body, HasSubstr("href=\"/runs/good-run\""));
  EXPECT_THAT(index->body, HasSubstr("href=\"/runs/%3Cscript%3E\">&lt;script&gt;</a>"));
  EXPECT_THAT(index->body, Not(HasSubstr("<script")));
  EXPECT_EQ(Count(index->body, "class=\"run-row\""), 2u);
  EXPECT_EQ(Count(index->body, "class=\"flag-row\""), 1u);
  EXPECT_THAT(index->body, HasSubstr("href=\"/scatter?variant=sketch\""));

  // good-run: two datasets at three steps, the regression at step 3000 on sketch.
  auto run = Get("/runs/good-run");
  ASSERT_TRUE(run);
  ASSERT_EQ(run->status, 200) << run->body;
  const std::string chart = FirstSvg(run->body);
  EXPECT_EQ(Count(chart, "class=\"point\""), 6u);
  EXPECT_EQ(Count(chart, "class=\"point\" data-series=\"sketch\""), 3u);
  EXPECT_THAT(chart, HasSubstr("data-series=\"imagenet\" data-label=\"good-run/step_3000.pt\" "
                               "data-x=\"3000\" data-y=\"80\""));
  EXPECT_EQ(Count(chart, "class=\"flag\""), 1u);
  EXPECT_THAT(chart, HasSubstr("<g class=\"flag\" data-kind=\"regression\" data-series=\"sketch\" "
                               "data-label=\"good-run/step_3000.pt\" data-x=\"3000\" "
                               "data-y=\"50\">"));
  EXPECT_EQ(Count(run->body, "class=\"checkpoint-row\""), 3u);
  EXPECT_THAT(run->body, HasSubstr(">-12.00<"));  // the flag's sketch delta
  EXPECT_THAT(run->body, HasSubstr("href=\"/scatter?variant=sketch&amp;run=good-run\""));

  // The run called "<script>" is text everywhere, and its link works.
  auto evil = Get("/runs/%3Cscript%3E");
  ASSERT_TRUE(evil);
  ASSERT_EQ(evil->status, 200) << evil->body;
  EXPECT_THAT(evil->body, Not(HasSubstr("<script")));
  EXPECT_THAT(evil->body, HasSubstr("<h1>Run &lt;script&gt;</h1>"));
  EXPECT_EQ(Count(FirstSvg(evil->body), "class=\"point\""), 4u);
  EXPECT_EQ(Count(FirstSvg(evil->body), "class=\"flag\""), 0u);

  // The pool: five imported models and five checkpoints, good-run's three highlighted, the fit.
  auto scatter = Get("/scatter?variant=sketch&run=good-run");
  ASSERT_TRUE(scatter);
  ASSERT_EQ(scatter->status, 200) << scatter->body;
  const std::string plot = FirstSvg(scatter->body);
  EXPECT_EQ(Count(plot, "class=\"point\""),
            static_cast<size_t>(::tw::testing::DashboardSeed::kPoolSize));
  EXPECT_EQ(Count(plot, "data-group=\"imported models\""), 5u);
  EXPECT_EQ(Count(plot, "data-highlighted=\"true\""), 3u);
  EXPECT_THAT(plot, HasSubstr("data-highlighted=\"true\" data-label=\"good-run/step_3000.pt"));
  EXPECT_EQ(Count(plot, "class=\"fit\""), 1u);
  EXPECT_EQ(Count(scatter->body, "class=\"selected-row\""), 3u);
  EXPECT_THAT(scatter->body, Not(HasSubstr("<script")));
  EXPECT_THAT(scatter->body, HasSubstr("<option value=\"&lt;script&gt;\">"));
  // Without a run nothing is highlighted; without a variant the first one is shown.
  auto plain = Get("/scatter");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(Count(FirstSvg(plain->body), "data-highlighted=\"true\""), 0u);
  EXPECT_THAT(plain->body, HasSubstr("<h1>sketch vs imagenet</h1>"));

  auto flags = Get("/flags");
  ASSERT_TRUE(flags);
  ASSERT_EQ(flags->status, 200);
  EXPECT_EQ(Count(flags->body, "class=\"flag-row\""), 1u);
  EXPECT_THAT(flags->body, HasSubstr(">[-"));  // a confidence interval
  auto evil_flags = Get("/flags?run=%3Cscript%3E");
  ASSERT_TRUE(evil_flags);
  EXPECT_EQ(evil_flags->status, 200);
  EXPECT_EQ(Count(evil_flags->body, "class=\"flag-row\""), 0u);
  EXPECT_THAT(evil_flags->body, HasSubstr("<h1>Flags of run &lt;script&gt;</h1>"));

  // Errors are pages too, with the right codes.
  auto missing = Get("/runs/no-such-run");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->get_header_value("Content-Type"), StartsWith("text/html"));
  auto unknown_variant = Get("/scatter?variant=%3Cnope%3E");
  ASSERT_TRUE(unknown_variant);
  EXPECT_EQ(unknown_variant->status, 404);
  EXPECT_THAT(unknown_variant->body, Not(HasSubstr("<nope>")));
  auto no_reference = Get("/scatter?variant=imagenet");
  ASSERT_TRUE(no_reference);
  EXPECT_EQ(no_reference->status, 400);

  // Without a token there is no login; the DNS-rebinding rule still holds.
  auto login = Get("/login");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 303);
  EXPECT_EQ(login->get_header_value("Location"), "/");
  auto rebound = Get("/", {{"Host", "evil.example"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 421);
  auto head = client_->Head("/runs/good-run");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());

  // `transferwatch plot` writes the SVG the page inlines, byte for byte.
  const std::string out = dir_.Sub("plots");
  auto plotted = ::tw::testing::RunCli(
      {"--database", db_->conninfo(), "plot", "--run", "good-run", "--out", out});
  ASSERT_EQ(plotted.exit_code, 0) << plotted.output;
  const std::string file = ::tw::testing::ReadTestFile(out + "/run-good-run-accuracy.svg");
  EXPECT_THAT(file, StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg"));
  EXPECT_EQ(FirstSvg(file), chart);
  const std::string scatter_file = ::tw::testing::ReadTestFile(out + "/scatter-sketch.svg");
  EXPECT_EQ(FirstSvg(scatter_file), plot);
  EXPECT_THAT(plotted.output, HasSubstr("run-good-run-accuracy.svg"));
  daemon_->process().Signal(SIGTERM);
  EXPECT_EQ(daemon_->process().Wait(std::chrono::seconds(20)), std::optional<int>(0));
}

TEST_F(DashboardTest, PlotCommandNamesFilesSafelyAndRefusesWhatItCannotDo) {
  const std::string out = dir_.Sub("out");
  auto evil = ::tw::testing::RunCli({"--database", db_->conninfo(), "--format", "json", "plot",
                                     "--run", "<script>", "--out", out, "--variant", "sketch"});
  ASSERT_EQ(evil.exit_code, 0) << evil.output;
  EXPECT_TRUE(std::filesystem::exists(out + "/run-_script_-accuracy.svg"));
  EXPECT_TRUE(std::filesystem::exists(out + "/scatter-sketch.svg"));
  const std::string svg = ::tw::testing::ReadTestFile(out + "/run-_script_-accuracy.svg");
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
  EXPECT_EQ(Count(svg, "class=\"point\""), 4u);
  auto listing = nlohmann::json::parse(evil.output, nullptr, false);
  ASSERT_FALSE(listing.is_discarded()) << evil.output;
  ASSERT_EQ(listing["files"].size(), 2u);
  EXPECT_EQ(listing["files"][0]["kind"], "accuracy");
  EXPECT_EQ(listing["files"][0]["points"], 4);
  EXPECT_EQ(listing["files"][1]["points"], ::tw::testing::DashboardSeed::kPoolSize);

  auto unknown = ::tw::testing::RunCli(
      {"--database", db_->conninfo(), "plot", "--run", "no-such-run", "--out", out});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;
  EXPECT_THAT(unknown.output, HasSubstr("run 'no-such-run' has no checkpoints"));
  auto png = ::tw::testing::RunCli(
      {"--database", db_->conninfo(), "plot", "--run", "good-run", "--format", "png"});
  EXPECT_EQ(png.exit_code, 2) << png.output;
  EXPECT_THAT(png.output, HasSubstr("svg only"));
  auto no_reference = ::tw::testing::RunCli({"--database", db_->conninfo(), "plot", "--run",
                                             "good-run", "--out", out, "--variant", "imagenet"});
  EXPECT_EQ(no_reference.exit_code, 2) << no_reference.output;
}

TEST_F(DashboardTest, WithATokenABrowserLogsInOnceAndKeepsACookieNotTheToken) {
  const std::string token = "dashboard-t0ken-value";
  StartDaemon(token);

  // Pages send browsers to the login form and back; the API keeps answering 401.
  auto index = Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 303);
  EXPECT_THAT(RawResponseHead(daemon_->port(), "/"),
              AllOf(StartsWith("HTTP/1.1 303"), HasSubstr("\r\nLocation: /login?next=%2F\r\n")));
  EXPECT_THAT(RawResponseHead(daemon_->port(), "/runs/%3Cscript%3E?x=1"),
              HasSubstr("\r\nLocation: /login?next=%2Fruns%2F%253Cscript%253E%3Fx%3D1\r\n"));
  auto run = Get("/runs/good-run?x=1");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 303);
  auto api = Get("/v1/runs");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 401);
  auto form = Get("/login?next=%2Fruns%2Fgood-run");
  ASSERT_TRUE(form);
  ASSERT_EQ(form->status, 200);
  EXPECT_THAT(form->body, HasSubstr("type=\"password\" name=\"token\""));
  EXPECT_THAT(form->body, HasSubstr("name=\"next\" value=\"/runs/good-run\""));
  EXPECT_EQ(form->get_header_value("Content-Security-Policy"), api::kBrowserPagePolicy);

  // A wrong token: the form again, 401, no cookie.
  auto wrong = PostForm("/login", "token=dashboard-t0ken-valuX&next=%2Fruns%2Fgood-run");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));
  EXPECT_THAT(wrong->body, HasSubstr("wrong token"));
  EXPECT_THAT(wrong->body, HasSubstr("name=\"token\""));
  auto json = client_->Post("/login", "{\"token\": \"dashboard-t0ken-value\"}", "application/json");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 415);
  EXPECT_FALSE(json->has_header("Set-Cookie"));

  // The right token: back to where the browser wanted to go, with the session cookie.
  auto right = PostForm("/login", "token=dashboard-t0ken-value&next=%2Fruns%2Fgood-run");
  ASSERT_TRUE(right);
  ASSERT_EQ(right->status, 303) << right->body;
  EXPECT_EQ(right->get_header_value("Location"), "/runs/good-run");
  const std::string set_cookie = right->get_header_value("Set-Cookie");
  EXPECT_THAT(set_cookie, StartsWith("tw_session="));
  EXPECT_THAT(set_cookie, HasSubstr("; HttpOnly"));
  EXPECT_THAT(set_cookie, HasSubstr("; SameSite=Strict"));
  EXPECT_THAT(set_cookie, HasSubstr("; Path=/"));
  EXPECT_THAT(set_cookie, Not(HasSubstr(token)));
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  const httplib::Headers with_cookie = {{"Cookie", "theme=dark; " + cookie}};

  for (const char* path : {"/", "/runs/good-run", "/runs/%3Cscript%3E",
                           "/scatter?variant=sketch&run=good-run", "/flags"}) {
    auto page = Get(path, with_cookie);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200) << path;
    EXPECT_EQ(page->get_header_value("Cache-Control"), "no-store") << path;
    EXPECT_THAT(page->body, Not(HasSubstr("<script"))) << path;
    EXPECT_THAT(page->body, HasSubstr("log out")) << path;
  }
  // The cookie opens pages only: the JSON API still wants the bearer token, and unknown paths
  // stay 401 so the table cannot be mapped with a cookie.
  auto api_with_cookie = Get("/v1/runs", with_cookie);
  ASSERT_TRUE(api_with_cookie);
  EXPECT_EQ(api_with_cookie->status, 401);
  auto unknown = Get("/no-such-page", with_cookie);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  // The bearer token opens pages too (scripts, curl).
  auto bearer = Get("/runs/good-run", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 200);
  EXPECT_EQ(Count(FirstSvg(bearer->body), "class=\"point\""), 6u);

  // Forged or tampered cookies are nothing.
  std::string tampered = cookie;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  for (const std::string& bad :
       {std::string("tw_session=1.00"), tampered, std::string("tw_session=") + token}) {
    auto page = Get("/runs/good-run", {{"Cookie", bad}});
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 303) << bad;
  }
  // After login, only paths on this server: an outside `next` goes to "/".
  auto outside = PostForm("/login", "token=dashboard-t0ken-value&next=%2F%2Fevil.example%2F");
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 303);
  EXPECT_EQ(outside->get_header_value("Location"), "/");

  // Logging out clears the cookie; without a session it is refused like any page POST.
  auto logout = client_->Post("/logout", with_cookie, "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 303);
  EXPECT_THAT(logout->get_header_value("Set-Cookie"), HasSubstr("tw_session=; "));
  EXPECT_THAT(logout->get_header_value("Set-Cookie"), HasSubstr("Max-Age=0"));
  auto anonymous_logout = client_->Post("/logout", "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(anonymous_logout);
  EXPECT_EQ(anonymous_logout->status, 401);
}

}  // namespace
}  // namespace tw
