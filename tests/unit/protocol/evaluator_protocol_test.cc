// The evaluator's job file and event lines: what one side writes the other reads back, and
// anything malformed is refused with the reason.
#include "protocol/evaluator_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/testing/status_matchers.h"

namespace tw::protocol {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

const std::string kHash(64, 'a');

Job SampleJob() {
  Job job;
  job.evaluator_version = "transferwatch-eval/test";
  job.checkpoint_path = "/ckpt/model.pt";
  job.checkpoint_sha256 = kHash;
  job.threads = 2;
  job.decode_threads = 1;
  JobDataset d;
  d.name = "imagenet";
  d.root = "/data/val";
  d.manifest_path = "/tmp/job/0.manifest.json";
  d.manifest_sha256 = kHash;
  d.eval_config_sha256 = HashEvalConfig(d.eval_config)->sha256;
  d.evaluation_key = kHash;
  d.records_path = "/tmp/job/0.records";
  job.datasets.push_back(d);
  return job;
}

std::string Edit(const std::string& json, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json doc = nlohmann::json::parse(json);
  edit(doc);
  return doc.dump();
}

TEST(JobTest, RoundTrips) {
  TW_ASSERT_OK_AND_ASSIGN(std::string text, JobToJson(SampleJob()));
  TW_ASSERT_OK_AND_ASSIGN(Job job, JobFromJson(text, "job.json"));
  EXPECT_EQ(job.evaluator_version, "transferwatch-eval/test");
  EXPECT_EQ(job.checkpoint_path, "/ckpt/model.pt");
  ASSERT_EQ(job.datasets.size(), 1u);
  EXPECT_EQ(job.datasets[0].eval_config.img_size, 224);
  EXPECT_FALSE(job.arch_path.has_value());
}

TEST(JobTest, RefusesWhatIsMalformed) {
  TW_ASSERT_OK_AND_ASSIGN(std::string good, JobToJson(SampleJob()));
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* message;
  } cases[] = {
      {"relative checkpoint", [](auto& d) { d["checkpoint_path"] = "model.pt"; },
       "checkpoint_path must be an absolute path"},
      {"traversal in a root", [](auto& d) { d["datasets"][0]["root"] = "../data"; },
       "root must be an absolute path"},
      {"bad hash", [](auto& d) { d["checkpoint_sha256"] = "abc"; }, "is not a SHA-256"},
      {"unknown key", [](auto& d) { d["surprise"] = 1; }, "unknown key \"surprise\""},
      {"unknown dataset key", [](auto& d) { d["datasets"][0]["x"] = 1; }, "unknown key \"x\""},
      {"other version", [](auto& d) { d["job_version"] = 2; }, "job_version 2 is not supported"},
      {"arch without hash", [](auto& d) { d["arch_path"] = "/a.pt"; }, "go together"},
      {"config and hash disagree",
       [](auto& d) { d["datasets"][0]["eval_config"]["img_size"] = 288; },
       "eval_config_sha256 does not match"},
      {"bad config", [](auto& d) { d["datasets"][0]["eval_config"]["dtype"] = "fp8"; },
       "dtype must be fp32 or bf16"},
      {"repeated dataset", [](auto& d) { d["datasets"].push_back(d["datasets"][0]); },
       "empty or repeated dataset name"},
      {"no datasets", [](auto& d) { d["datasets"] = nlohmann::json::array(); }, "non-empty list"},
      {"negative threads", [](auto& d) { d["threads"] = -1; }, "threads must be"},
      {"no version", [](auto& d) { d.erase("evaluator_version"); },
       "missing \"evaluator_version\""},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(JobFromJson(Edit(good, c.edit), "job.json"),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.what;
  }
  EXPECT_THAT(JobFromJson("{not json", "job.json"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("job.json:1:")));
}

DatasetResult SampleResult() {
  DatasetResult r;
  r.dataset = "imagenet";
  r.evaluation_key = kHash;
  r.n = 3;
  r.top1 = 66.5;
  r.top5 = 100;
  r.nll = 0.25;
  r.per_class_json = "[null,50.0]";
  r.corruption_subsets = {{"fog", 1, 40.0}};
  r.corruption_json = "{\"mce\":0.5}";
  r.records_path = "/tmp/job/0.records";
  r.records_count = 3;
  r.records_digest = kHash;
  r.bad_images = {{"a/b.jpg", "corrupt JPEG"}};
  r.bad_image_count = 7;
  r.wall_s = 1.5;
  return r;
}

TEST(EventTest, ResultsRoundTrip) {
  TW_ASSERT_OK_AND_ASSIGN(Event event, ParseEventLine(ResultEventJson(SampleResult())));
  ASSERT_EQ(event.kind, Event::Kind::kResult);
  const DatasetResult& r = event.result;
  EXPECT_EQ(r.dataset, "imagenet");
  EXPECT_EQ(r.top1, 66.5);
  EXPECT_EQ(r.nll, 0.25);
  EXPECT_FALSE(r.ece.has_value());
  EXPECT_EQ(r.per_class_json, "[null,50.0]");
  ASSERT_EQ(r.corruption_subsets.size(), 1u);
  EXPECT_EQ(r.corruption_subsets[0].severity, 1);
  EXPECT_EQ(r.bad_image_count, 7);
  ASSERT_EQ(r.bad_images.size(), 1u);
  EXPECT_EQ(r.bad_images[0].reason, "corrupt JPEG");
}

TEST(EventTest, OnlyAHundredBadImagesAreListed) {
  DatasetResult r = SampleResult();
  r.bad_images.assign(500, BadImage{"x.jpg", "empty file"});
  r.bad_image_count = 500;
  TW_ASSERT_OK_AND_ASSIGN(Event event, ParseEventLine(ResultEventJson(r)));
  EXPECT_EQ(event.result.bad_images.size(), kMaxBadImagesListed);
  EXPECT_EQ(event.result.bad_image_count, 500);
}

TEST(EventTest, ProgressErrorsAndProvenance) {
  Progress p;
  p.done = 5;
  p.total = 10;
  p.images_per_s = 2.5;
  TW_ASSERT_OK_AND_ASSIGN(Event progress, ParseEventLine(ProgressEventJson(p)));
  EXPECT_EQ(progress.progress.total, 10);
  TW_ASSERT_OK_AND_ASSIGN(Event error,
                          ParseEventLine(ErrorEventJson("sketch", DataLossError("x.jpg changed"))));
  EXPECT_EQ(error.error_dataset, "sketch");
  EXPECT_EQ(error.error_code, "DATA_LOSS");
  TW_ASSERT_OK_AND_ASSIGN(Event start, ParseEventLine("{\"event\":\"start\",\"host\":\"h\"}"));
  EXPECT_EQ(start.kind, Event::Kind::kStart);
}

TEST(EventTest, RefusesWhatIsMalformed) {
  std::string good = ResultEventJson(SampleResult());
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* message;
  } cases[] = {
      {"accuracy over 100", [](auto& d) { d["top1"] = 101; }, "out of range"},
      {"negative count", [](auto& d) { d["n"] = -1; }, "out of range"},
      {"bad digest", [](auto& d) { d["records"]["digest"] = "xyz"; }, "is not a SHA-256"},
      {"missing field", [](auto& d) { d.erase("top5"); }, "missing \"top5\""},
      {"unknown field", [](auto& d) { d["extra"] = true; }, "unknown key \"extra\""},
      {"count below the list", [](auto& d) { d["bad_image_count"] = 0; },
       "below the bad images listed"},
      {"unknown event", [](auto& d) { d["event"] = "explode"; }, "unknown event explode"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(ParseEventLine(Edit(good, c.edit)),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.what;
  }
  EXPECT_THAT(ParseEventLine("[1,2]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseEventLine("{\"top1\":1}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no \"event\"")));
  EXPECT_THAT(ParseEventLine("garbage"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("evaluator output")));
}

// Overrides come from daemon configs and the CLI: refused with the key, never narrowed or
// guessed (4294967520 once became an img_size of 224).
TEST(EvalConfigTest, OverridesAreRangeCheckedBeforeNarrowing) {
  EvalConfig c;
  ASSERT_TRUE(ApplyEvalConfigJson(R"({"img_size": 288, "batch_size": 64})", &c).ok());
  EXPECT_EQ(c.img_size, 288);
  EXPECT_EQ(c.batch_size, 64);
  for (const char* bad : {R"({"img_size": 4294967520})", R"({"batch_size": -4294967296})",
                          R"({"channels": 18446744073709551615})"}) {
    EvalConfig untouched;
    Status status = ApplyEvalConfigJson(bad, &untouched);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), ::testing::HasSubstr("out of range")) << bad;
  }
  EXPECT_THAT(ApplyEvalConfigJson(R"({"img_sise": 224})", &c).message(),
              ::testing::HasSubstr("unknown key \"img_sise\""));
}

TEST(EvalConfigTest, KeysSeparateWhatMatters) {
  EvalConfig a;
  EvalConfig b = a;
  b.skip_bad_images = true;
  EXPECT_NE(HashEvalConfig(a)->sha256, HashEvalConfig(b)->sha256);
  // Without resize and crop, crop and interpolation cannot matter: normalised away.
  EvalConfig suite1 = a, suite2 = a;
  suite2.crop_pct = 0.9;
  suite2.interpolation = "bilinear";
  NormalizeEvalConfig(false, &suite1);
  NormalizeEvalConfig(false, &suite2);
  EXPECT_EQ(HashEvalConfig(suite1)->sha256, HashEvalConfig(suite2)->sha256);
  EvalConfig gpu = a;
  gpu.device = "cuda";
  NormalizeEvalConfig(true, &gpu);
  EXPECT_EQ(gpu.device, "cuda:0");
  auto k1 = EvaluatorEvaluationKey(kHash, std::nullopt, "imagenet", kHash, kHash, "v");
  auto k2 = EvaluatorEvaluationKey(kHash, std::nullopt, "imagenet-copy", kHash, kHash, "v");
  auto k3 = EvaluatorEvaluationKey(kHash, kHash, "imagenet", kHash, kHash, "v");
  EXPECT_NE(*k1, *k2);
  EXPECT_NE(*k1, *k3);
}

}  // namespace
}  // namespace tw::protocol
