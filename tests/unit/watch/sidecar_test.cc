#include "watch/sidecar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::watch {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

TEST(ParseSidecarTest, AcceptsTheFullSchema) {
  const std::string text =
      R"({"step": 4000, "epoch": 12.5, "hparams": {"lr": 0.1, "arch": "resnet18"},
          "git_commit": "ABCDEF1234567"})";
  TW_ASSERT_OK_AND_ASSIGN(Sidecar sidecar, ParseSidecar(text, "epoch_012.json"));
  EXPECT_EQ(sidecar.step, 4000);
  EXPECT_EQ(sidecar.epoch, 12.5);
  EXPECT_EQ(sidecar.hparams_json, R"({"arch":"resnet18","lr":0.1})");
  EXPECT_EQ(sidecar.git_commit, "abcdef1234567");
  EXPECT_EQ(sidecar.sha256, Sha256Hex(text));
  EXPECT_EQ(sidecar.canonical_json,
            R"({"epoch":12.5,"git_commit":"abcdef1234567","hparams":{"arch":"resnet18","lr":0.1},)"
            R"("step":4000})");
}

TEST(ParseSidecarTest, EveryKeyIsOptional) {
  TW_ASSERT_OK_AND_ASSIGN(Sidecar sidecar, ParseSidecar("{}", "a.json"));
  EXPECT_EQ(sidecar.step, std::nullopt);
  EXPECT_EQ(sidecar.epoch, std::nullopt);
  EXPECT_EQ(sidecar.hparams_json, "{}");
  EXPECT_EQ(sidecar.git_commit, std::nullopt);
  EXPECT_EQ(sidecar.canonical_json, "{}");
}

TEST(ParseSidecarTest, IntegerEpochAndZeroStep) {
  TW_ASSERT_OK_AND_ASSIGN(Sidecar sidecar, ParseSidecar(R"({"step": 0, "epoch": 3})", "a.json"));
  EXPECT_EQ(sidecar.step, 0);
  EXPECT_EQ(sidecar.epoch, 3.0);
}

TEST(ParseSidecarTest, UnknownKeyIsNamed) {
  EXPECT_THAT(ParseSidecar(R"({"stpe": 5})", "epoch_012.json"),
              StatusIs(StatusCode::kInvalidArgument,
                       "epoch_012.json: unknown key 'stpe' (allowed: step, epoch, hparams, "
                       "git_commit)"));
}

TEST(ParseSidecarTest, RefusesBadValues) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {R"({"step": -1})", "a.json: 'step' must be an integer >= 0, got -1"},
      {R"({"step": 1.5})", "a.json: 'step' must be an integer >= 0, got 1.5"},
      {R"({"step": "12"})", "a.json: 'step' must be an integer >= 0, got \"12\""},
      {R"({"step": 18446744073709551615})", "a.json: 'step' is too large"},
      {R"({"epoch": -0.5})", "a.json: 'epoch' must be a number >= 0, got -0.5"},
      {R"({"epoch": null})", "a.json: 'epoch' must be a number >= 0, got null"},
      {R"({"hparams": [1]})", "a.json: 'hparams' must be an object, got [1]"},
      {R"({"git_commit": "abc12"})", "a.json: 'git_commit' must be 7 to 64 hex digits"},
      {R"({"git_commit": "xyz1234"})", "a.json: 'git_commit' must be 7 to 64 hex digits"},
      {R"({"git_commit": 1234567})", "a.json: 'git_commit' must be 7 to 64 hex digits"},
      {R"([1, 2])", "a.json: a sidecar must be a JSON object, got array"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseSidecar(c.text, "a.json"),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.text;
  }
  EXPECT_THAT(ParseSidecar(R"({"git_commit": ")" + std::string(65, 'a') + R"("})", "a.json"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("7 to 64 hex digits")));
}

TEST(ParseSidecarTest, RefusesMalformedJsonWithPosition) {
  EXPECT_THAT(ParseSidecar("{\"step\": 1,}", "a.json"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("a.json:1:")));
  EXPECT_THAT(ParseSidecar(R"({"step": 1, "step": 2})", "a.json"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("a.json")));
}

TEST(ParseSidecarTest, HostileKeyIsEscapedInTheMessage) {
  EXPECT_THAT(ParseSidecar("{\"\\u001b[31m\": 1}", "a.json"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unknown key '\\x1b[31m'")));
}

TEST(SidecarPathForTest, ReplacesTheLastExtension) {
  EXPECT_EQ(SidecarPathFor("/r/run1/epoch_012.pt"), "/r/run1/epoch_012.json");
  EXPECT_EQ(SidecarPathFor("/r/run1/model.v2.pth"), "/r/run1/model.v2.json");
  EXPECT_EQ(SidecarPathFor("/r/run.1/model"), "/r/run.1/model.json");
}

TEST(ReadSidecarForTest, AbsentIsNullopt) {
  testing::TempDir dir;
  TW_ASSERT_OK_AND_ASSIGN(auto sidecar, ReadSidecarFor(dir.Sub("epoch_1.pt")));
  EXPECT_EQ(sidecar, std::nullopt);
}

TEST(ReadSidecarForTest, ReadsTheFileBeside) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Sub("epoch_1.json"), R"({"step": 7})");
  TW_ASSERT_OK_AND_ASSIGN(auto sidecar, ReadSidecarFor(dir.Sub("epoch_1.pt")));
  ASSERT_TRUE(sidecar.has_value());
  EXPECT_EQ(sidecar->step, 7);
}

TEST(ReadSidecarForTest, ErrorsNameTheFile) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Sub("epoch_1.json"), R"({"stpe": 7})");
  EXPECT_THAT(ReadSidecarFor(dir.Sub("epoch_1.pt")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("epoch_1.json: unknown key")));
}

TEST(ReadSidecarForTest, RefusesLargeFilesAndSymlinks) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Sub("big.json"), std::string(kMaxSidecarBytes + 1, ' '));
  EXPECT_THAT(ReadSidecarFor(dir.Sub("big.pt")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large")));
  testing::WriteTestFile(dir.Sub("target.json"), "{}");
  ASSERT_EQ(::symlink(dir.Sub("target.json").c_str(), dir.Sub("link.json").c_str()), 0);
  EXPECT_THAT(ReadSidecarFor(dir.Sub("link.pt")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("symlink")));
}

}  // namespace
}  // namespace tw::watch
