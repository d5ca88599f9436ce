// The dashboard's test data and daemon, shared by the HTTP integration test
// (tests/integration/dashboard) and the browser test (tests/browser): a real PostgreSQL seeded
// through the Store as the evaluator and the importer would write it, and a real transferwatchd
// serving it on 127.0.0.1.
//
// The data: datasets imagenet and sketch (reference imagenet); five imported models with results
// on both; run "good-run" with checkpoints at steps 1000, 2000, 3000 and run "<script>" (a name
// that must never become markup) with steps 1000, 2000, each evaluated on both datasets with
// per-sample predictions, and the transfer checks run after each checkpoint as the daemon runs
// them. good-run's step 3000 gains 5 points on imagenet and loses 12 on sketch: a regression.
//
// Header-only: the two test programs link different libraries.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "reports/transfer_checks.h"
#include "scoring/records.h"
#include "store/evaluation_key.h"
#include "store/pg_store.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw::testing {

class DashboardSeed {
 public:
  explicit DashboardSeed(Store& store) : store_(store) {}

  // Everything above; records gtest failures on the way.
  void SeedAll() {
    auto hashed = HashEvalConfig(EvalConfig{});
    ASSERT_TRUE(hashed.ok()) << hashed.status().ToString();
    config_ = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
    AddDataset("imagenet", std::nullopt, 2000);
    AddDataset("sketch", "imagenet", 1000);
    ImportModels();
    // (step, imagenet correct of 2000, sketch correct of 1000)
    AddRun("good-run", {{1000, 1400, 600}, {2000, 1500, 620}, {3000, 1600, 500}});
    AddRun("<script>", {{1000, 1300, 520}, {2000, 1350, 540}});
  }

  static constexpr int kImportedModels = 5;
  static constexpr int kPoolSize = kImportedModels + 3 + 2;

 private:
  struct Step {
    int step;
    int imagenet_correct;
    int sketch_correct;
  };

  void AddDataset(const std::string& name, std::optional<std::string> reference, int n) {
    DatasetRegistration reg;
    reg.name = name;
    reg.reference = reference;
    reg.manifest_canonical = "{\"content\":\"" + name + "\"}";
    reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
    reg.files_sha256 = Sha256Hex("files:" + name);
    reg.num_files = n;
    reg.total_bytes = 100 * n;
    reg.root = "/data/" + name;
    auto registered = store_.RegisterDataset(reg);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  }

  void ImportModels() {
    ImportBatch batch;
    batch.source = "timm";
    batch.datasets = {{"imagenet", std::nullopt, "{}"}, {"sketch", "imagenet", "{}"}};
    batch.eval_configs = {config_};
    for (int i = 0; i < kImportedModels; ++i) {
      const std::string model = "timm-model-" + std::to_string(i);
      batch.models.push_back({model, "{}"});
      // Reference accuracies 60..84, variant ones on a line below them.
      const double reference = 60 + 6 * i;
      const double variant = 25 + 5 * i;
      for (const auto& [dataset, top1] : std::vector<std::pair<std::string, double>>{
               {"imagenet", reference}, {"sketch", variant}}) {
        auto key = ImportedEvaluationKey("timm", model, dataset, 224);
        ASSERT_TRUE(key.ok()) << key.status().ToString();
        ImportedEvaluation e;
        e.evaluation_key = *key;
        e.model = model;
        e.dataset = dataset;
        e.eval_config_sha256 = config_.sha256;
        e.top1 = top1;
        e.location = "seed:" + model;
        batch.evaluations.push_back(e);
      }
    }
    auto imported = store_.ImportEvaluations(batch, ImportMode::kAddNew);
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  }

  void AddRun(const std::string& run, const std::vector<Step>& steps) {
    for (const Step& s : steps) {
      CheckpointFileRegistration reg;
      reg.run = run;
      reg.file_name = "step_" + std::to_string(s.step) + ".pt";
      reg.sha256 = Sha256Hex(run + reg.file_name);
      reg.size_bytes = 10;
      reg.step = s.step;
      reg.host = "test";
      auto info = store_.RegisterCheckpointFile(reg);
      ASSERT_TRUE(info.ok()) << info.status().ToString();
      CheckedCheckpoint c{info->id, run + "/" + reg.file_name, reg.sha256, s.step};
      Evaluate(c, "imagenet", 2000, s.imagenet_correct);
      Evaluate(c, "sketch", 1000, s.sketch_correct);
      auto checked = RunTransferChecks(store_, c, TransferCheckOptions{});
      ASSERT_TRUE(checked.ok()) << checked.status().ToString();
    }
  }

  // An evaluation whose first `correct` of `n` images are right (so later checkpoints gain or
  // lose whole blocks of images, as a paired test sees them).
  void Evaluate(const CheckedCheckpoint& c, const std::string& dataset, int n, int correct) {
    auto version = store_.GetDatasetVersion(dataset);
    ASSERT_TRUE(version.ok()) << version.status().ToString();
    std::vector<scoring::SampleRecord> records(n);
    for (int i = 0; i < n; ++i) {
      records[i].top5 = {0, -1, -1, -1, -1};
      records[i].correct = records[i].correct5 = i < correct;
      records[i].true_prob = 0.5f;
    }
    EvaluationRecord r;
    auto key = EvaluatorEvaluationKey(c.sha256, std::nullopt, dataset, version->manifest_sha256,
                                      config_.sha256, "test");
    ASSERT_TRUE(key.ok());
    r.evaluation_key = *key;
    r.checkpoint_id = c.id;
    r.dataset = dataset;
    r.manifest_sha256 = version->manifest_sha256;
    r.eval_config = config_;
    r.top1 = 100.0 * correct / n;
    r.num_samples = n;
    r.predictions = scoring::EncodeRecords(records);
    r.predictions_digest = scoring::RecordsDigest(r.predictions);
    r.predictions_count = n;
    auto id = store_.RecordEvaluation(r);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
  }

  Store& store_;
  ImportedEvalConfig config_;
};

// transferwatchd on a scratch database with the API on 127.0.0.1 (port 0), an empty watch root
// and, when `token` is set, that token in a 0600 token file.
class DashboardDaemon {
 public:
  DashboardDaemon(const std::string& daemon_path, const std::string& evaluator_path,
                  const std::string& conninfo, const TempDir& dir,
                  const std::optional<std::string>& token) {
    const std::string root = dir.Sub("watch");
    const std::string state = dir.Sub("state");
    std::filesystem::create_directories(root);
    std::filesystem::create_directories(state);
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(root.c_str(), 0755);
    ::chmod(state.c_str(), 0755);
    const std::string config = dir.Sub("daemon.toml");
    std::ofstream out(config);
    // The seeded checkpoints have no files: the jobs the planner queues for them fail at once
    // and stay dead (one attempt), leaving the seeded results alone.
    out << "[watch]\nroots = [\"" << root << "\"]\nsettle = \"200ms\"\n"
        << "[eval]\nevaluator = \"" << evaluator_path << "\"\n"
        << "[workers]\nslots = 1\nmax_attempts = 1\n"
        << "[api]\nenabled = true\nport = 0\n";
    if (token) {
      const std::string token_file = dir.Sub("token");
      WriteTestFile(token_file, *token + "\n");
      ::chmod(token_file.c_str(), 0600);
      out << "token_file = \"" << token_file << "\"\n";
    }
    out.close();
    process_ = std::make_unique<DaemonProcess>(
        daemon_path,
        std::vector<std::string>{"--config", config, "--database", conninfo, "--state-dir", state,
                                 "--log-level", "info"},
        dir.Sub("daemon.log"));
    WaitFor(
        [&] {
          const std::string log = process_->Log();
          const auto at = log.find("HTTP API on 127.0.0.1:");
          if (at == std::string::npos) return false;
          port_ = std::atoi(log.c_str() + at + 22);
          return port_ > 0;
        },
        std::chrono::seconds(30));
  }

  int port() const { return port_; }  // 0 when it did not come up
  std::string Log() const { return process_->Log(); }
  DaemonProcess& process() { return *process_; }

 private:
  std::unique_ptr<DaemonProcess> process_;
  int port_ = 0;
};

}  // namespace tw::testing
