// transferwatch-eval: evaluates one checkpoint on a list of datasets, as a child process of
// `transferwatch eval` and of the daemon. It reads a job file and writes JSON lines to stdout
// (schemas/evaluator-protocol.md); a crash or a bad checkpoint ends only this process.
#include <cstdio>
#include <cstring>
#include <string>

#include "common/file_util.h"
#include "common/version.h"
#include "eval/evaluator.h"
#include "protocol/evaluator_protocol.h"

namespace {

constexpr const char* kUsage =
    "usage: transferwatch-eval --job FILE\n"
    "       transferwatch-eval --version\n"
    "Evaluates the job's checkpoint on its datasets and prints one JSON event per line.\n"
    "Exit codes: 0 ok, 2 bad job, 3 bad checkpoint, 4 a dataset failed, 5 internal error.\n";

void EmitLine(const std::string& line) {
  // One write per event, flushed: the reader parses lines as they come.
  std::string out = line + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tw;
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("transferwatch-eval %s (%s)\n", kVersion, kGitDescribe);
    return 0;
  }
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc != 3 || std::strcmp(argv[1], "--job") != 0) {
    std::fputs(kUsage, stderr);
    return protocol::kEvaluatorExitBadJob;
  }
  auto text = ReadFileToString(argv[2], 256u << 20);
  StatusOr<protocol::Job> job =
      text.ok() ? protocol::JobFromJson(*text, argv[2]) : StatusOr<protocol::Job>(text.status());
  if (!job.ok()) {
    EmitLine(protocol::ErrorEventJson(std::nullopt, job.status()));
    return protocol::kEvaluatorExitBadJob;
  }
  return eval::RunJob(*job, EmitLine);
}
