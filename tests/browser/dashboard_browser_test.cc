// The dashboard in a real browser: Debian's chromium, headless, against a real transferwatchd on
// 127.0.0.1 over a seeded PostgreSQL (tests/testing/dashboard_fixture.h). Each page must load
// without a single console message (the pages have no script, so any message is a CSP violation,
// a failed load or worse), its DOM must hold the expected chart points, and a screenshot of each
// is kept under the build folder (tests/browser-artifacts/, paths printed) for people to look at.
//
// Without chromium the test fails and says how to install it: a browser test that skips itself
// is a test nobody runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common/process.h"
#include "tests/testing/dashboard_fixture.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::optional<std::string> FindChromium() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const char* name : {"chromium", "chromium-browser"}) {
      const std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return std::nullopt;
}

struct PageLoad {
  std::string dom;                   // --dump-dom: the DOM after loading, serialized
  std::vector<std::string> console;  // console messages chromium logged
  std::string log;                   // all of chromium's stderr, for failure messages
};

// chromium 156 with --enable-logging=stderr logs each console message (any level, CSP violations
// and uncaught exceptions included) as
//   [pid:tid:time:INFO:CONSOLE:12] "message", source: http://... (12)
// and older versions as "...:INFO:CONSOLE(12)] ...": both have ":CONSOLE".
PageLoad Open(const std::string& chromium, const std::string& url, const std::string& screenshot,
              const std::string& profile) {
  ProcessSpec spec;
  spec.argv = {chromium,
               "--headless=new",
               "--no-sandbox",  // required as root, and containers rarely allow the sandbox
               "--disable-gpu",
               "--disable-dev-shm-usage",
               "--no-first-run",
               "--user-data-dir=" + profile,
               "--enable-logging=stderr",
               "--v=0",
               "--window-size=1280,1000",
               "--screenshot=" + screenshot,
               "--dump-dom",
               url};
  spec.timeout = std::chrono::seconds(90);
  spec.max_output_bytes = 8 << 20;
  PageLoad load;
  spec.on_stdout_line = [&](std::string_view line) {
    load.dom.append(line);
    load.dom += '\n';
  };
  auto result = RunProcess(spec);
  EXPECT_TRUE(result.ok()) << url << ": " << result.status().ToString();
  if (!result.ok()) return load;
  EXPECT_EQ(result->exit_code, 0) << url << ": chromium " << result->Describe() << "\n"
                                  << result->output;
  load.log = result->output;
  std::stringstream lines(result->output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(":CONSOLE") != std::string::npos) load.console.push_back(line);
  }
  return load;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class DashboardBrowserTest : public ::tw::testing::PgTest {
 protected:
  void SetUp() override {
    auto found = FindChromium();
    ASSERT_TRUE(found.has_value())
        << "chromium is not installed: the dashboard's browser test needs Debian's chromium "
           "(apt-get install chromium; scripts/setup installs it)";
    chromium_ = *found;
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    std::filesystem::create_directories(TW_BROWSER_ARTIFACT_DIR);
  }

  std::string Screenshot(const std::string& name) {
    return std::string(TW_BROWSER_ARTIFACT_DIR) + "/" + name + ".png";
  }

  std::string chromium_;
  ::tw::testing::TempDir dir_;
};

TEST_F(DashboardBrowserTest, ConsoleMessagesAreSeen) {
  // The check below must be able to fail: a page that logs an error is caught.
  const std::string shot = Screenshot("console-probe");
  PageLoad probe = Open(chromium_,
                        "data:text/html,<title>probe</title><script>"
                        "console.error('tw-console-probe')</script>",
                        shot, dir_.Sub("profile"));
  EXPECT_THAT(Join(probe.console), HasSubstr("tw-console-probe")) << probe.log;
}

TEST_F(DashboardBrowserTest, EveryPageLoadsCleanlyWithItsChartPoints) {
  ::tw::testing::DashboardSeed seed(*store_);
  seed.SeedAll();
  ASSERT_FALSE(HasFatalFailure());
  ::tw::testing::DashboardDaemon daemon(TW_DAEMON_PATH, TW_FAKE_EVALUATOR_PATH, db_->conninfo(),
                                        dir_, std::nullopt);
  ASSERT_GT(daemon.port(), 0) << daemon.Log();
  const std::string base = "http://127.0.0.1:" + std::to_string(daemon.port());

  struct Page {
    std::string name;
    std::string path;
    size_t points;       // class="point" elements in the DOM
    size_t flags;        // class="flag" markers
    size_t highlighted;  // data-highlighted="true"
  };
  const std::vector<Page> pages = {
      {"index", "/", 0, 0, 0},
      {"run-good-run", "/runs/good-run", 6, 1, 0},
      {"run-script", "/runs/%3Cscript%3E", 4, 0, 0},
      {"scatter-sketch", "/scatter?variant=sketch&run=good-run",
       static_cast<size_t>(::tw::testing::DashboardSeed::kPoolSize), 0, 3},
      {"flags", "/flags", 0, 0, 0},
  };
  for (const Page& page : pages) {
    SCOPED_TRACE(page.path);
    const std::string shot = Screenshot(page.name);
    std::filesystem::remove(shot);
    PageLoad load = Open(chromium_, base + page.path, shot, dir_.Sub("profile-" + page.name));
    EXPECT_TRUE(load.console.empty()) << "console messages:\n" << Join(load.console);
    EXPECT_THAT(load.dom, HasSubstr("TransferWatch"));
    EXPECT_EQ(Count(load.dom, "class=\"point\""), page.points);
    EXPECT_EQ(Count(load.dom, "class=\"flag\""), page.flags);
    EXPECT_EQ(Count(load.dom, "data-highlighted=\"true\""), page.highlighted);
    // The run called "<script>" is text in the DOM, never an element.
    EXPECT_THAT(load.dom, Not(HasSubstr("<script")));
    std::error_code error;
    const auto size = std::filesystem::file_size(shot, error);
    EXPECT_FALSE(error) << "no screenshot at " << shot;
    EXPECT_GT(size, 10000u) << shot << " looks empty";
    if (!error) {
      const std::string png = ::tw::testing::ReadTestFile(shot);
      EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
    }
    std::cout << "screenshot: " << shot << "\n";
    RecordProperty("screenshot_" + page.name, shot);
  }
}

}  // namespace
}  // namespace tw
