// What the tests of whole transferwatchd processes share (tests/daemon/daemon_test.cc,
// tests/reliability/daemon_faults_test.cc): a scratch database, a watched folder, datasets
// registered through the real CLI, checkpoints shaped like torch.jit.save's zip carrying the
// fake evaluator's markers (tests/testing/fake_evaluator.cc), and daemons started from a config
// written per test. Needs TW_DAEMON_PATH and TW_FAKE_EVALUATOR_PATH.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "store/pg_store.h"
#include "tests/testing/cli.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"

namespace tw::testing {

class DaemonFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>();
    ASSERT_TRUE(db_->ok());
    // As root the evaluator runs as an unprivileged user: it must reach the files.
    ::chmod(dir_.path().c_str(), 0755);
    root_ = dir_.Sub("watch");
    std::filesystem::create_directories(root_);
    ::chmod(root_.c_str(), 0755);
    auto store = PgStore::Connect(db_->conninfo());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  // Registers a dataset of four small files (registration hashes, never decodes).
  void AddDataset(const std::string& name) {
    std::string data = dir_.Sub("data/" + name);
    for (const char* cls : {"n01440764", "n01443537"}) {
      for (int i = 0; i < 2; ++i) {
        std::string path = data + "/" + cls + "/img" + std::to_string(i) + ".JPEG";
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        WriteTestFile(path, name + path);
      }
    }
    auto result = RunCli(
        {"--database", db_->conninfo(), "dataset", "add", name, data, "--layout", "wnid-folders"});
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }

  // A checkpoint of run `run`, renamed into place (or written in place); `payload` carries the
  // fake evaluator's markers.
  std::string Checkpoint(const std::string& run, const std::string& name,
                         const std::string& payload, bool by_rename = true) {
    std::string folder = root_ + "/" + run;
    std::filesystem::create_directories(folder);
    ::chmod(folder.c_str(), 0755);
    std::string path = folder + "/" + name;
    if (by_rename) {
      EXPECT_TRUE(WriteZip(path + ".tmp", TorchScriptEntries(payload)));
      ::chmod((path + ".tmp").c_str(), 0644);
      std::filesystem::rename(path + ".tmp", path);
    } else {
      std::string bytes = ZipBytes(dir_, TorchScriptEntries(payload));
      WriteTestFile(path, bytes);
      ::chmod(path.c_str(), 0644);
    }
    return path;
  }

  struct Options {
    int slots = 1;
    std::string lease = "4s";
    std::string heartbeat = "500ms";
    int max_attempts = 3;
    std::string poll_interval = "500ms";
    std::string drain = "10s";
    bool api = false;
    std::string extra;       // appended at the end (inside [api])
    std::string eval_extra;  // appended inside [eval]
    std::string evaluator = TW_FAKE_EVALUATOR_PATH;
  };

  std::unique_ptr<DaemonProcess> StartDaemon(const std::string& name, const Options& o) {
    std::string state = dir_.Sub("state-" + name);
    std::filesystem::create_directories(state);
    ::chmod(state.c_str(), 0755);
    std::string config = dir_.Sub(name + ".toml");
    std::ofstream out(config);
    out << "[watch]\nroots = [\"" << root_ << "\"]\nsettle = \"200ms\"\nrescan_interval = \"2s\"\n"
        << "[eval]\nevaluator = \"" << o.evaluator << "\"\n"
        << o.eval_extra << "[workers]\nslots = " << o.slots << "\nlease = \"" << o.lease
        << "\"\nheartbeat = \"" << o.heartbeat << "\"\nmax_attempts = " << o.max_attempts
        << "\nretry_backoff = \"100ms\"\npoll_interval = \"" << o.poll_interval
        << "\"\nplan_interval = \"1s\"\ndrain_timeout = \"" << o.drain << "\"\n"
        << "[api]\nenabled = " << (o.api ? "true" : "false") << "\nport = 0\n"
        << o.extra;
    out.close();
    return std::make_unique<DaemonProcess>(
        TW_DAEMON_PATH,
        std::vector<std::string>{"--config", config, "--database", db_->conninfo(), "--state-dir",
                                 state, "--log-level", "info"},
        dir_.Sub(name + ".log"));
  }

  // A datagram socket standing in for systemd's NOTIFY_SOCKET, exported for the daemons started
  // next (the caller unsets it); -1 after a failed assertion.
  int BindNotifySocket() {
    int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(sock, 0);
    if (sock < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir_.Sub("notify.sock");
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    EXPECT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::chmod(path.c_str(), 0777);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    return sock;
  }

  JobCounts Counts() {
    auto counts = store_->CountJobs();
    EXPECT_TRUE(counts.ok()) << counts.status().ToString();
    return counts.ok() ? *counts : JobCounts{};
  }

  int64_t Evaluations() {
    auto counts = store_->Counts();
    return counts.ok() ? counts->evaluations : -1;
  }

  std::vector<JobInfo> Jobs() {
    JobFilter all;
    all.limit = 1000;
    auto jobs = store_->ListJobs(all);
    EXPECT_TRUE(jobs.ok());
    return jobs.ok() ? *jobs : std::vector<JobInfo>{};
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<PgStore> store_;
};

}  // namespace tw::testing
