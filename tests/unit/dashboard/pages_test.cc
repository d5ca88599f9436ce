// The dashboard's pages (dashboard/pages.h) from hand-made data: every user-provided name is
// escaped in text and attributes and percent-encoded in links; no page carries a script; login
// redirects stay on this server.
#include "dashboard/pages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plots/charts.h"

namespace tw::dashboard {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kEvil = "<script>alert(1)</script>\"'&";

TransferCheckInfo Flag() {
  TransferCheckInfo f;
  f.id = 7;
  f.checkpoint = kEvil + "/step_2.pt";
  f.reference_checkpoint = kEvil + "/step_1.pt";
  f.reference_kinds = {"previous"};
  f.variant = "sk<etch";
  f.reference_dataset = "imagenet";
  f.verdict = "regression";
  f.variant_numbers.delta = -10;
  f.variant_numbers.ci_low = -12.5;
  f.variant_numbers.ci_high = -7.25;
  f.variant_numbers.p = 1e-12;
  f.variant_numbers.n = 1000;
  f.variant_numbers.only_old = 100;
  f.variant_p_holm = 2e-12;
  f.holm_family_size = 2;
  f.reference.delta = 10;
  f.reference.n = 2000;
  f.reference.p = 0.0123;
  return f;
}

void ExpectNoMarkupFromNames(const std::string& page) {
  EXPECT_THAT(page, Not(HasSubstr("<script")));
  EXPECT_THAT(page, Not(HasSubstr("sk<etch")));
  EXPECT_THAT(page, Not(HasSubstr("\"'&\"")));
}

TEST(PagesTest, IndexEscapesRunNamesAndEncodesLinks) {
  RunOverview run;
  run.run = kEvil;
  run.checkpoints = 3;
  run.latest_step = 3000;
  DatasetInfo variant;
  variant.name = "sk<etch";
  variant.reference = "imagenet";
  const std::string page = IndexPage(PageContext{}, {run}, {Flag()}, {variant});
  ExpectNoMarkupFromNames(page);
  EXPECT_THAT(page, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
  EXPECT_THAT(page, HasSubstr("href=\"/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26\""));
  EXPECT_THAT(page, HasSubstr("href=\"/scatter?variant=sk%3Cetch\""));
  EXPECT_THAT(page, HasSubstr("<td class=\"num\">3000</td>"));
  EXPECT_THAT(page, Not(HasSubstr("log out")));
  EXPECT_THAT(IndexPage(PageContext{true}, {}, {}, {}), HasSubstr("log out"));
}

TEST(PagesTest, FlagsTableShowsTheNumbers) {
  const std::string page = FlagsPage(PageContext{}, {Flag()}, kEvil);
  ExpectNoMarkupFromNames(page);
  EXPECT_THAT(page, HasSubstr(">-10.00<"));
  EXPECT_THAT(page, HasSubstr(">[-12.50, -7.25]<"));
  EXPECT_THAT(page, HasSubstr(">1.0e-12<"));
  EXPECT_THAT(page, HasSubstr(">2.0e-12 <span class=\"muted\">(of 2)</span>"));
  EXPECT_THAT(page, HasSubstr(">1000 (0 / 100)<"));
  EXPECT_THAT(page, HasSubstr(">+10.00<"));
  EXPECT_THAT(page, HasSubstr(">0.0123<"));
  EXPECT_EQ(FlagsPage(PageContext{}, {}, std::nullopt).find("class=\"flag-row\""),
            std::string::npos);
}

TEST(PagesTest, RunAndScatterPagesEscapeEverything) {
  RunProgress progress;
  progress.run = kEvil;
  progress.x_axis = "step";
  progress.datasets = {"imagenet", "sk<etch"};
  RunCheckpoint c;
  c.checkpoint.display_name = kEvil + "/step_2.pt";
  c.checkpoint.step = 2;
  c.x = 2;
  c.top1 = {{"imagenet", 80}, {"sk<etch", 30}};
  progress.checkpoints = {c};
  progress.flags = {Flag()};
  const std::string svg = plots::RenderLineChart(RunProgressChart(progress));
  const std::string run_page = RunPage(PageContext{}, progress, svg, {});
  ExpectNoMarkupFromNames(run_page);
  EXPECT_EQ(std::count(run_page.begin(), run_page.end(), '\0'), 0);

  VariantPool pool;
  pool.variant = "sk<etch";
  pool.reference = "imagenet";
  pool.run = kEvil;
  PoolRow row;
  row.checkpoint = kEvil + "/step_2.pt";
  row.origin = "file";
  row.run = kEvil;
  row.reference = 80;
  row.variant = 30;
  pool.rows = {row};
  RunOverview run;
  run.run = kEvil;
  const std::string scatter =
      ScatterPage(PageContext{}, pool, plots::RenderScatter(VariantPoolScatter(pool)), {}, {run});
  ExpectNoMarkupFromNames(scatter);
  EXPECT_THAT(scatter, HasSubstr("<option value=\"&lt;script&gt;"));
  EXPECT_THAT(scatter, HasSubstr("class=\"selected-row\""));
}

TEST(PagesTest, LoginKeepsOnlyLocalTargets) {
  EXPECT_EQ(SafeNext("/runs/a?x=1"), "/runs/a?x=1");
  EXPECT_EQ(SafeNext("/"), "/");
  EXPECT_EQ(SafeNext("//evil.example/"), "/");
  EXPECT_EQ(SafeNext("/\\evil.example/"), "/");
  EXPECT_EQ(SafeNext("https://evil.example/"), "/");
  EXPECT_EQ(SafeNext("/a\r\nSet-Cookie: x"), "/");
  EXPECT_EQ(SafeNext("/login"), "/");
  EXPECT_EQ(SafeNext("/login?next=/"), "/");
  EXPECT_EQ(SafeNext("/loginx"), "/loginx");
  EXPECT_EQ(SafeNext(""), "/");
  const std::string page = LoginPage("/runs/%3Cx%3E\"><script>", "wrong <token>");
  EXPECT_THAT(page, Not(HasSubstr("<script")));
  EXPECT_THAT(page, HasSubstr("wrong &lt;token&gt;"));
  EXPECT_THAT(page, HasSubstr("name=\"next\" value=\"/\""));  // '"' and '<' are not URL text
  EXPECT_THAT(LoginPage("/runs/a", ""), HasSubstr("name=\"next\" value=\"/runs/a\""));
  EXPECT_THAT(page, HasSubstr("type=\"password\" name=\"token\""));
}

}  // namespace
}  // namespace tw::dashboard
