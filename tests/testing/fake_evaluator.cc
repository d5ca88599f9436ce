// A stand-in for transferwatch-eval that speaks its protocol (job file in, JSON lines and
// records files out) without LibTorch, so daemon tests and the queue benchmark exercise the
// daemon, not inference. Its behaviour is chosen by markers in the checkpoint's bytes, since the
// daemon passes nothing else through (the environment is scrubbed):
//   TWFAKE:SEGV        crash with SIGSEGV after starting
//   TWFAKE:SLEEP=<ms>  sleep before reporting (SIGKILL and drain tests)
//   TWFAKE:BADARG      report INVALID_ARGUMENT for every dataset (a permanent failure)
//   TWFAKE:ALLOC=<MiB> allocate and touch that much memory first (the memory limit test)
//   TWFAKE:ACC=<dataset>=<k>; the first k images of that dataset are right, the rest wrong
//                      (transfer checks: two checkpoints differ on chosen images)
// Otherwise every image is "correct" and top-1 is 50 + (first hash byte % 50) / 10.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "datasets/manifest.h"
#include "protocol/evaluator_protocol.h"
#include "scoring/records.h"

namespace {

void Emit(const std::string& line) { std::cout << line << "\n" << std::flush; }

int Run(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--job") {
    std::cerr << "usage: fake_evaluator --job FILE\n";
    return 2;
  }
  auto text = tw::ReadFileToString(argv[2], 1 << 24);
  if (!text.ok()) {
    std::cerr << text.status().ToString() << "\n";
    return 2;
  }
  auto job = tw::protocol::JobFromJson(*text, argv[2]);
  if (!job.ok()) {
    std::cerr << job.status().ToString() << "\n";
    return 2;
  }
  Emit("{\"event\":\"start\",\"evaluator\":\"fake\",\"pid\":" + std::to_string(::getpid()) + "}");
  auto bytes = tw::ReadFileToString(job->checkpoint_path, 1 << 30);
  if (!bytes.ok() || tw::Sha256Hex(*bytes) != job->checkpoint_sha256) {
    Emit(tw::protocol::ErrorEventJson(
        std::nullopt, tw::DataLossError("the checkpoint's bytes do not match its hash")));
    return tw::protocol::kEvaluatorExitInternal;
  }
  if (bytes->find("TWFAKE:SEGV") != std::string::npos) {
    std::fflush(nullptr);
    ::raise(SIGSEGV);
  }
  if (auto at = bytes->find("TWFAKE:ALLOC="); at != std::string::npos) {
    size_t mib = static_cast<size_t>(std::atol(bytes->c_str() + at + 13));
    std::vector<char> block(mib << 20, 1);  // throws std::bad_alloc past RLIMIT_DATA: abort
    std::cerr << "allocated " << block.size() << " bytes\n";
  }
  if (auto at = bytes->find("TWFAKE:SLEEP="); at != std::string::npos) {
    long ms = std::atol(bytes->c_str() + at + 13);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  bool bad = bytes->find("TWFAKE:BADARG") != std::string::npos;
  int failed = 0;
  for (const auto& d : job->datasets) {
    if (bad) {
      Emit(tw::protocol::ErrorEventJson(
          d.name, tw::InvalidArgumentError("not a TorchScript module (fake)")));
      ++failed;
      continue;
    }
    auto manifest_text = tw::ReadFileToString(d.manifest_path, 1 << 28);
    auto manifest = manifest_text.ok()
                        ? tw::datasets::ManifestFromJson(*manifest_text, "manifest")
                        : tw::StatusOr<tw::datasets::Manifest>(manifest_text.status());
    if (!manifest.ok()) {
      Emit(tw::protocol::ErrorEventJson(d.name, manifest.status()));
      ++failed;
      continue;
    }
    std::vector<tw::scoring::SampleRecord> records(manifest->files.size());
    size_t right = records.size();
    std::string marker = "TWFAKE:ACC=" + d.name + "=";
    if (auto at = bytes->find(marker); at != std::string::npos) {
      right = static_cast<size_t>(std::atol(bytes->c_str() + at + marker.size()));
    }
    for (size_t i = 0; i < records.size(); ++i) {
      auto& r = records[i];
      r.top5 = {0, -1, -1, -1, -1};
      r.correct = r.correct5 = i < right;
      r.true_prob = 0.5f;
    }
    std::string encoded = tw::scoring::EncodeRecords(records);
    if (!tw::WriteFileAtomic(d.records_path, encoded, 0600).ok()) return 5;
    tw::protocol::DatasetResult result;
    result.dataset = d.name;
    result.evaluation_key = d.evaluation_key;
    result.n = static_cast<int64_t>(records.size());
    result.top1 = right < records.size()
                      ? 100.0 * static_cast<double>(right) / static_cast<double>(records.size())
                      : 50 + (static_cast<unsigned char>(job->checkpoint_sha256[0]) % 50) / 10.0;
    result.top5 = 100;
    result.nll = 0.69;
    result.ece = 0.0;
    result.records_path = d.records_path;
    result.records_count = result.n;
    result.records_digest = tw::scoring::RecordsDigest(encoded);
    result.wall_s = 0.01;
    Emit(tw::protocol::ResultEventJson(result));
  }
  Emit("{\"event\":\"done\"}");
  return failed > 0 ? tw::protocol::kEvaluatorExitDatasetFailed : 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
