#include "tests/testing/cli.h"

#include <gtest/gtest.h>

#include "tests/testing/paths.h"

namespace tw::testing {

ProcessResult RunCli(const CliCall& call) {
  ProcessSpec spec;
  spec.argv = {call.program.empty() ? std::string(CliPath()) : call.program};
  spec.argv.insert(spec.argv.end(), call.args.begin(), call.args.end());
  spec.env = {"TRANSFERWATCH_DATABASE_URL", "TRANSFERWATCH_HOME", "TRANSFERWATCH_CONFIG",
              "XDG_CONFIG_HOME=/nonexistent"};
  spec.env.insert(spec.env.end(), call.env.begin(), call.env.end());
  spec.run_as = call.run_as;
  if (call.run_as) spec.working_directory = "/";
  spec.timeout = std::chrono::minutes(5);
  spec.max_output_bytes = 64 << 20;  // a full report's JSON is a few MB
  auto result = RunProcess(spec);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : ProcessResult{};
}

nlohmann::json RunCliJson(std::vector<std::string> args) {
  args.push_back("--format");
  args.push_back("json");
  ProcessResult result = RunCli(args);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  auto doc = nlohmann::json::parse(result.output, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << result.output;
  return doc;
}

}  // namespace tw::testing
