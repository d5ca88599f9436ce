// Output formats and settings precedence of the CLI, without a database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "cli/settings.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::cli {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

Listing Sample() {
  Listing listing;
  listing.list_name = "results";
  listing.columns = {{"checkpoint", "checkpoint"}, {"top1", "top1", 3}, {"note", "note"}};
  listing.rows = {{"resnet50", 80.5, nullptr}, {"vit, \"large\"", 7.25, "x"}};
  return listing;
}

TEST(OutputTest, JsonIsOneObjectWithOnePluralList) {
  EXPECT_EQ(
      RenderListing(Sample(), OutputFormat::kJson),
      "{\n  \"results\": [\n    {\n      \"checkpoint\": \"resnet50\",\n      \"top1\": 80.5,\n"
      "      \"note\": null\n    },\n    {\n      \"checkpoint\": \"vit, \\\"large\\\"\",\n"
      "      \"top1\": 7.25,\n      \"note\": \"x\"\n    }\n  ]\n}\n");
  Listing empty = Sample();
  empty.rows.clear();
  EXPECT_EQ(RenderListing(empty, OutputFormat::kJson), "{\n  \"results\": []\n}\n");
}

TEST(OutputTest, CsvHeaderIsTheJsonKeysAndFieldsAreQuoted) {
  EXPECT_EQ(RenderListing(Sample(), OutputFormat::kCsv),
            "checkpoint,top1,note\nresnet50,80.5,\n\"vit, \"\"large\"\"\",7.25,x\n");
}

TEST(OutputTest, TableAlignsNumbersWithFixedDecimals) {
  EXPECT_EQ(RenderListing(Sample(), OutputFormat::kTable),
            "checkpoint      top1  note\n"
            "resnet50      80.500  -\n"
            "vit, \"large\"   7.250  x\n");
}

TEST(OutputTest, FormatNames) {
  EXPECT_THAT(ParseOutputFormat("yaml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("table, json or csv")));
  TW_ASSERT_OK_AND_ASSIGN(OutputFormat csv, ParseOutputFormat("csv"));
  EXPECT_EQ(csv, OutputFormat::kCsv);
}

TEST(ExitCodeTest, MapsStatusCodes) {
  EXPECT_EQ(ExitCodeFor(OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeFor(NotFoundError("x")), 3);
  EXPECT_EQ(ExitCodeFor(UnavailableError("x")), 4);
  EXPECT_EQ(ExitCodeFor(InternalError("x")), 1);
  EXPECT_EQ(ExitCodeFor(FailedPreconditionError("x")), 1);
}

GetEnv Env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(SettingsTest, FlagBeatsEnvironmentBeatsConfigBeatsDefault) {
  TempDir dir;
  WriteTestFile(dir.Sub("c.toml"),
                "state_dir = \"/from/config\"\n[database]\nurl = \"host=config\"\n"
                "[log]\nlevel = \"debug\"\n[report]\ndelta = 1.5\n");
  GlobalFlags flags;
  flags.config_path = dir.Sub("c.toml");
  TW_ASSERT_OK_AND_ASSIGN(CliSettings from_config, ResolveSettings(flags, Env({}), false));
  EXPECT_EQ(from_config.database.state_dir, "/from/config");
  EXPECT_EQ(from_config.database.url, "host=config");
  EXPECT_EQ(from_config.log_level, spdlog::level::debug);
  EXPECT_EQ(from_config.report_delta, 1.5);

  auto env = Env({{"TRANSFERWATCH_HOME", "/from/env"}, {"TRANSFERWATCH_DATABASE_URL", "host=env"}});
  TW_ASSERT_OK_AND_ASSIGN(CliSettings from_env, ResolveSettings(flags, env, false));
  EXPECT_EQ(from_env.database.state_dir, "/from/env");
  EXPECT_EQ(from_env.database.url, "host=env");

  flags.state_dir = "/from/flag/";
  flags.database_url = "host=flag";
  TW_ASSERT_OK_AND_ASSIGN(CliSettings from_flag, ResolveSettings(flags, env, false));
  EXPECT_EQ(from_flag.database.state_dir, "/from/flag");
  EXPECT_EQ(from_flag.database.url, "host=flag");

  GlobalFlags none;
  TW_ASSERT_OK_AND_ASSIGN(CliSettings defaults,
                          ResolveSettings(none, Env({{"HOME", "/home/ada"}}), false));
  EXPECT_EQ(defaults.database.state_dir, "/home/ada/.local/share/transferwatch");
  EXPECT_FALSE(defaults.database.url.has_value());
  EXPECT_EQ(defaults.report_delta, 0.5);
}

TEST(SettingsTest, ConfigValuesAreValidatedWithTheirLine) {
  TempDir dir;
  WriteTestFile(dir.Sub("c.toml"), "state_dir = \"relative/path\"\n");
  GlobalFlags flags;
  flags.config_path = dir.Sub("c.toml");
  EXPECT_THAT(ResolveSettings(flags, Env({}), false),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:1: key 'state_dir' must be an absolute path")));
  WriteTestFile(dir.Sub("c.toml"), "\n[log]\nlevel = \"loud\"\n");
  EXPECT_THAT(ResolveSettings(flags, Env({}), false),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:3: key 'log.level' invalid log level")));
  WriteTestFile(dir.Sub("c.toml"), "[report]\ndelta = -2\n");
  EXPECT_THAT(ResolveSettings(flags, Env({}), false),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("c.toml:2: key 'report.delta'")));
  flags.log_level = "chatty";
  WriteTestFile(dir.Sub("c.toml"), "");
  EXPECT_THAT(ResolveSettings(flags, Env({}), false),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid log level \"chatty\"")));
}

TEST(SettingsTest, AnExplicitConfigMustExistButTheDefaultOnesAreOptional) {
  GlobalFlags flags;
  flags.config_path = "/nonexistent/c.toml";
  EXPECT_THAT(ResolveSettings(flags, Env({}), false),
              StatusIs(StatusCode::kNotFound, HasSubstr("/nonexistent/c.toml")));
  TempDir dir;
  TW_ASSERT_OK_AND_ASSIGN(
      CliSettings none,
      ResolveSettings(GlobalFlags{}, Env({{"XDG_CONFIG_HOME", dir.path()}}), true));
  EXPECT_FALSE(none.config_path.has_value());
  EXPECT_EQ(none.database.state_dir, "/var/lib/transferwatch");
  std::filesystem::create_directories(dir.Sub("transferwatch"));
  WriteTestFile(dir.Sub("transferwatch/config.toml"), "state_dir = \"/x\"\n");
  TW_ASSERT_OK_AND_ASSIGN(
      CliSettings found,
      ResolveSettings(GlobalFlags{}, Env({{"XDG_CONFIG_HOME", dir.path()}}), true));
  EXPECT_EQ(found.database.state_dir, "/x");
}

}  // namespace
}  // namespace tw::cli
