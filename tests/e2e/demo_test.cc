// The README's main job in its short form (`scripts/demo --short --no-build`: 1,500 training
// digits, 400 held out, 2 epochs per run) on its own embedded database, then checked against
// what the store says: every checkpoint evaluated on every dataset exactly once, no dead job,
// every flag's numbers consistent with the two stored evaluations it compares, and every chat
// message the sink received carrying a signature it verified.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/process.h"
#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

constexpr int kEpochs = 2;
const std::set<std::string> kDatasets = {"mnist",        "mnist-noise",  "mnist-blur",
                                         "mnist-rotate", "mnist-invert", "mnist-c"};

class DemoTest : public ::testing::Test {
 protected:
  Json Cli(std::vector<std::string> args) {
    args.push_back("--format");
    args.push_back("json");
    ProcessResult r = testing::RunCli(
        testing::CliCall{args, {"TRANSFERWATCH_HOME=" + home_.path()}, std::nullopt, ""});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return Json::parse(r.output, nullptr, false);
  }

  testing::TempDir home_;
};

TEST_F(DemoTest, ShortDemoEvaluatesEachCheckpointOnceFlagsHonestlyAndSignsItsAlerts) {
  ProcessSpec demo;
  demo.argv = {"bash", std::string(TW_REPO_DIR) + "/scripts/demo", "--short", "--no-build"};
  demo.env = {"TRANSFERWATCH_HOME=" + home_.path(), std::string("TW_BUILD_DIR=") + TW_BUILD_DIR};
  demo.timeout = std::chrono::minutes(12);
  demo.max_output_bytes = 8 << 20;
  auto ran = RunProcess(demo);
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  ASSERT_EQ(ran->exit_code, 0) << ran->output;
  EXPECT_THAT(ran->output, HasSubstr("transferwatch report"));
  EXPECT_THAT(ran->output, HasSubstr("dashboard: http://127.0.0.1:"));

  // Every checkpoint on every dataset, exactly once.
  std::map<std::string, std::map<std::string, double>> top1;  // checkpoint -> dataset -> top-1
  for (const std::string run : {"augmented", "plain"}) {
    Json results = Cli({"results", "--run", run, "--limit", "0"});
    ASSERT_TRUE(results.is_object()) << results;
    for (const Json& r : results["results"]) {
      std::string checkpoint = r["checkpoint"], dataset = r["dataset"];
      EXPECT_EQ(top1[checkpoint].count(dataset), 0u) << checkpoint << " on " << dataset << " twice";
      top1[checkpoint][dataset] = r["top1"].get<double>();
    }
  }
  ASSERT_EQ(top1.size(), 2u * kEpochs);
  for (const auto& [checkpoint, datasets] : top1) {
    std::set<std::string> seen;
    for (const auto& [dataset, value] : datasets) seen.insert(dataset);
    EXPECT_EQ(seen, kDatasets) << checkpoint;
  }
  Json status = Cli({"status"});
  EXPECT_EQ(status["checkpoints"], 2 * kEpochs);
  EXPECT_EQ(status["evaluations"], 2 * kEpochs * static_cast<int>(kDatasets.size()));
  EXPECT_EQ(status["jobs_dead"], 0);
  EXPECT_EQ(status["jobs_pending"], 0);

  // The baseline is the augmented run's last checkpoint.
  Json baselines = Cli({"baseline", "list"});
  ASSERT_EQ(baselines["baselines"].size(), 1u) << baselines;
  EXPECT_EQ(baselines["baselines"][0]["checkpoint"], "augmented/epoch_002.pt");

  // Each flag's numbers are the two stored evaluations' difference (every image is paired:
  // both checkpoints ran on the same manifest), and its verdict follows from its own p-values.
  Json flags = Cli({"flags", "--limit", "0"});
  ASSERT_TRUE(flags.is_object()) << flags;
  std::set<std::string> flagged;
  for (const Json& f : flags["flags"]) {
    std::string c = f["checkpoint"], ref = f["reference_checkpoint"];
    std::string variant = f["variant"], on = f["reference_dataset"];
    ASSERT_TRUE(top1.count(c) && top1.count(ref)) << f;
    EXPECT_NEAR(f["variant_delta"].get<double>(), top1[c][variant] - top1[ref][variant], 1e-6) << f;
    EXPECT_NEAR(f["reference_delta"].get<double>(), top1[c][on] - top1[ref][on], 1e-6) << f;
    EXPECT_GE(f["variant_p_holm"].get<double>(), f["variant_p"].get<double>()) << f;
    EXPECT_LT(f["reference_p"].get<double>(), 0.05) << f;
    EXPECT_GT(f["reference_delta"].get<double>(), 0.0) << f;
    if (f["kind"] == "regression") {
      EXPECT_LT(f["variant_delta"].get<double>(), 0.0) << f;
      EXPECT_LT(f["variant_p_holm"].get<double>(), 0.05) << f;
    }
    flagged.insert(c);
  }

  // The chat sink verified every message it got, and every flagged checkpoint was announced.
  std::ifstream log(home_.path() + "/demo-sink.log");
  std::string line, texts;
  int messages = 0;
  while (std::getline(log, line)) {
    Json m = Json::parse(line, nullptr, false);
    ASSERT_TRUE(m.is_object()) << line;
    EXPECT_TRUE(m["verified"].get<bool>()) << line;
    texts += m["text"].get<std::string>() + "\n";
    ++messages;
  }
  EXPECT_EQ(messages > 0, !flagged.empty()) << texts;
  for (const std::string& c : flagged) EXPECT_THAT(texts, HasSubstr(c));

  // The report covers the evaluated pool.
  Json report = Cli({"report", "--reference", "mnist"});
  ASSERT_TRUE(report.is_object()) << report;
  EXPECT_THAT(report.dump(), HasSubstr("mnist-rotate"));

  // Re-running is safe and fast: nothing new is evaluated.
  auto again = RunProcess(demo);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->exit_code, 0) << again->output;
  EXPECT_EQ(Cli({"status"})["evaluations"], 2 * kEpochs * static_cast<int>(kDatasets.size()));
}

}  // namespace
}  // namespace tw
