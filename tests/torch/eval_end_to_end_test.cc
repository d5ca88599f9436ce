// `transferwatch eval` end to end, through the real programs (the CLI runs transferwatch-eval as
// a child, with the embedded database in a per-test state directory): parity with timm's
// validate.py loop on the same files (tests/torch/eval_fixtures.py computes the reference with
// PIL, torchvision and PyTorch; on generated images and on the real photographs that
// scripts/setup fetches), determinism of the predictions digest, the thread count, a state dict
// with --arch, and the bad inputs of issue 3 item 7. The fixtures are generated once per test
// binary into a temporary directory; without PyTorch for Python every test fails with the reason
// (a skipped parity test would look like a passing one).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/process.h"
#include "tests/testing/paths.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using Json = nlohmann::json;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::tw::testing::TempDir;

constexpr int kThreads = 2;     // what eval_fixtures.py's reference uses
constexpr int kBatchSize = 8;   // likewise
constexpr int kClasses = 1000;  // imagenet_synsets.txt

std::string FixtureScript() {
#ifdef TW_TORCH_FIXTURE_SCRIPT
  return (std::filesystem::path(TW_TORCH_FIXTURE_SCRIPT).parent_path() / "eval_fixtures.py")
      .string();
#else
  return (std::filesystem::path(__FILE__).parent_path() / "eval_fixtures.py").string();
#endif
}

std::string ClassList() {
  return std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_synsets.txt";
}

std::string EvaluatorPath() {
  return std::filesystem::path(::tw::testing::CliPath()).parent_path() / "transferwatch-eval";
}

// Datasets, checkpoints and the reference outputs (eval_fixtures.py's docstring lists them).
struct Fixtures {
  Fixtures() {
    const char* python_env = std::getenv("TW_PYTHON");
    const std::string python = python_env != nullptr ? python_env : "/usr/bin/python3";
    const std::string script = FixtureScript();
    const std::string log = dir.Sub("eval_fixtures.log");
    const std::string command = "'" + python + "' '" + script + "' '" + dir.path() + "' " +
                                std::to_string(kThreads) + " > '" + log + "' 2>&1";
    const auto start = std::chrono::steady_clock::now();
    const int status = std::system(command.c_str());
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc != 0) {
      error = "generating the fixtures failed (" + command + ", exit status " + std::to_string(rc) +
              "):\n" + ::tw::testing::ReadTestFile(log) +
              "\nPyTorch for Python is needed: run scripts/setup (python3-torch, "
              "python3-torchvision; TW_PYTHON overrides /usr/bin/python3)";
      return;
    }
    std::fprintf(stderr, "[fixtures] %s in %.1f s: %s", dir.path().c_str(), seconds,
                 ::tw::testing::ReadTestFile(log).c_str());
    reference = Json::parse(::tw::testing::ReadTestFile(dir.Sub("reference.json")), nullptr, false);
    if (!reference.is_object()) error = dir.Sub("reference.json") + " is not a JSON object";
  }
  TempDir dir;
  std::string error;  // empty when the fixtures are there
  Json reference;
};

const Fixtures& GetFixtures() {
  static Fixtures fixtures;
  return fixtures;
}

std::string Fixture(const std::string& name) { return GetFixtures().dir.Sub(name); }

// The real photographs that scripts/setup copies (tests/CMakeLists.txt sets TW_PHOTOS_DIR).
std::string PhotosDir() {
#ifdef TW_PHOTOS_DIR
  return TW_PHOTOS_DIR;
#else
  return (std::filesystem::path(__FILE__).parent_path() / "../../.cache/skimage-data").string();
#endif
}

// The *.png, *.jpg and *.jpeg files in `dir` (what eval_fixtures.py --photos takes); 0 when
// `dir` is missing.
int CountPhotographs(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return 0;
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") ++count;
  }
  return count;
}

// The photographs' dataset and reference (eval_fixtures.py --photos), made next to the other
// fixtures (it reuses model.pt) the first time a test asks for them: only the test that uses them
// pays for them.
struct PhotoFixtures {
  PhotoFixtures() {
    const Fixtures& base = GetFixtures();
    if (!base.error.empty()) {
      error = base.error;
      return;
    }
    const char* python_env = std::getenv("TW_PYTHON");
    const std::string python = python_env != nullptr ? python_env : "/usr/bin/python3";
    const std::string log = base.dir.Sub("eval_fixtures_photos.log");
    const std::string command = "'" + python + "' '" + FixtureScript() + "' '" + base.dir.path() +
                                "' " + std::to_string(kThreads) + " --photos '" + PhotosDir() +
                                "' > '" + log + "' 2>&1";
    const auto start = std::chrono::steady_clock::now();
    const int status = std::system(command.c_str());
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc != 0) {
      error = "generating the photographs' fixtures failed (" + command + ", exit status " +
              std::to_string(rc) + "):\n" + ::tw::testing::ReadTestFile(log);
      return;
    }
    std::fprintf(stderr, "[fixtures] photos in %.1f s: %s", seconds,
                 ::tw::testing::ReadTestFile(log).c_str());
    reference = Json::parse(::tw::testing::ReadTestFile(base.dir.Sub("photos_reference.json")),
                            nullptr, false);
    if (!reference.is_object()) error = base.dir.Sub("photos_reference.json") + " is not JSON";
  }
  std::string error;  // empty when the fixtures are there
  Json reference;
};

const PhotoFixtures& GetPhotoFixtures() {
  static PhotoFixtures fixtures;
  return fixtures;
}

// One CLI run: stdout and stderr apart (stdout is the machine-readable part).
struct CliRun {
  int exit_code = -1;
  int signal = 0;
  std::string out;
  std::string err;
  std::string Describe() const {
    return "exit " + std::to_string(exit_code) +
           (signal != 0 ? ", signal " + std::to_string(signal) : "") + "\n--- stdout:\n" + out +
           "--- stderr:\n" + err;
  }
};

class EvalEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& error = GetFixtures().error;
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_EQ(::access(EvaluatorPath().c_str(), X_OK), 0)
        << EvaluatorPath() << " is missing: build the transferwatch-eval target";
    // Pin the embedded cluster for the whole test: each command then attaches in milliseconds
    // instead of starting and stopping PostgreSQL.
    CliRun start = Cli({"db", "start"});
    ASSERT_EQ(start.exit_code, 0) << start.Describe();
    started_ = true;
  }

  void TearDown() override {
    if (!started_) return;
    CliRun stop = Cli({"db", "stop", "--force"});
    EXPECT_EQ(stop.exit_code, 0) << stop.Describe();
  }

  CliRun Cli(const std::vector<std::string>& args) const {
    ProcessSpec spec;
    spec.argv = {::tw::testing::CliPath(), "--state-dir", state_.Sub("state")};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = {"TRANSFERWATCH_DATABASE_URL", "TRANSFERWATCH_HOME", "TRANSFERWATCH_CONFIG",
                "TRANSFERWATCH_EVAL", "XDG_CONFIG_HOME=/nonexistent"};
    spec.working_directory = "/";
    spec.timeout = std::chrono::seconds(240);
    spec.max_output_bytes = 16 << 20;
    CliRun run;
    spec.on_stdout_line = [&run](std::string_view line) {
      run.out.append(line);
      run.out.push_back('\n');
    };
    auto result = RunProcess(spec);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok()) return run;
    run.exit_code = result->exit_code;
    run.signal = result->signal;
    run.err = result->output;
    return run;
  }

  // `dataset add NAME DIR` with the 1000 ImageNet classes; asserts success.
  void AddDataset(const std::string& name, const std::string& dir) const {
    CliRun add = Cli({"dataset", "add", name, dir, "--layout", "wnid-folders", "--classes",
                      ClassList(), "--threads", "2"});
    ASSERT_EQ(add.exit_code, 0) << add.Describe();
  }

  // `eval CKPT --dataset DATASET --batch-size 8 --threads 2 [extra] --format json`.
  CliRun Eval(const std::string& checkpoint, const std::string& dataset,
              const std::vector<std::string>& extra = {}, const std::string& format = "json",
              int threads = kThreads) const {
    std::vector<std::string> args = {"eval",         checkpoint,
                                     "--dataset",    dataset,
                                     "--batch-size", std::to_string(kBatchSize),
                                     "--threads",    std::to_string(threads),
                                     "--format",     format};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cli(args);
  }

  // The one evaluation of a successful `eval --format json`.
  static Json OnlyEvaluation(const CliRun& run) {
    Json doc = Json::parse(run.out, nullptr, false);
    EXPECT_TRUE(doc.is_object() && doc.contains("evaluations") && doc["evaluations"].size() == 1)
        << run.Describe();
    if (!doc.is_object() || !doc.contains("evaluations") || doc["evaluations"].size() != 1) {
      return Json::object();
    }
    return doc["evaluations"][0];
  }

  // `predictions export CKPT --dataset DATASET --format json`: one object per line.
  std::vector<Json> Export(const std::string& checkpoint, const std::string& dataset) const {
    CliRun run =
        Cli({"predictions", "export", checkpoint, "--dataset", dataset, "--format", "json"});
    EXPECT_EQ(run.exit_code, 0) << run.Describe();
    std::vector<Json> rows;
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      rows.push_back(Json::parse(line, nullptr, false));
      EXPECT_TRUE(rows.back().is_object()) << line;
    }
    return rows;
  }

  // `results --dataset DATASET --format json`'s list.
  Json Results(const std::string& dataset, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"results", "--dataset", dataset, "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun run = Cli(args);
    EXPECT_EQ(run.exit_code, 0) << run.Describe();
    Json doc = Json::parse(run.out, nullptr, false);
    EXPECT_TRUE(doc.is_object() && doc.contains("results")) << run.Describe();
    return doc.is_object() && doc.contains("results") ? doc["results"] : Json::array();
  }

  // `eval` of model.pt on the wnid-folder dataset `dataset_dir` (run `tag`), compared per image
  // with eval_fixtures.py's reference (reference.json's format) and its float32 logits: the same
  // top-5, true_prob within 1e-4 relative, the same top-1/top-5 and NLL within 1e-4.
  void ExpectMatchesReference(const std::string& tag, const std::string& dataset_dir,
                              const Json& reference, const std::string& logits_file) const {
    AddDataset("ds", dataset_dir);
    CliRun eval = Eval(Fixture("model.pt"), "ds", {"--run", tag});
    ASSERT_EQ(eval.exit_code, 0) << eval.Describe();
    Json result = OnlyEvaluation(eval);
    const int n = reference["n"].get<int>();
    EXPECT_EQ(result.value("n", -1), n);
    EXPECT_FALSE(result.value("cached", true));

    std::vector<Json> rows = Export(tag + "/model.pt", "ds");
    ASSERT_EQ(rows.size(), static_cast<size_t>(n));
    // The reference's float32 logits, [n, 1000]: to show how close a mismatch was to a tie.
    const std::string logits_bytes = ::tw::testing::ReadTestFile(logits_file);
    ASSERT_EQ(logits_bytes.size(), static_cast<size_t>(n) * kClasses * sizeof(float));
    auto reference_logit = [&](int row, int cls) {
      float value;
      std::memcpy(&value, logits_bytes.data() + (static_cast<size_t>(row) * kClasses + cls) * 4, 4);
      return value;
    };

    double max_abs = 0, max_rel = 0;
    int top5_mismatches = 0, prob_mismatches = 0;
    for (int i = 0; i < n; ++i) {
      const Json& want = reference["images"][i];
      const Json& got = rows[static_cast<size_t>(i)];
      const std::string path = want["path"].get<std::string>();
      ASSERT_EQ(got.value("path", ""), path) << "row " << i << ": the export's order";
      EXPECT_FALSE(got.value("excluded", true)) << path;
      const auto want_top5 = want["top5"].get<std::vector<int>>();
      const auto got_top5 = got["top5"].get<std::vector<int>>();
      if (got_top5 != want_top5) {
        ++top5_mismatches;
        std::ostringstream detail;
        for (int c : got_top5) detail << " " << c << ":" << reference_logit(i, c);
        ADD_FAILURE() << path << ": top-5 " << ::testing::PrintToString(got_top5) << ", reference "
                      << ::testing::PrintToString(want_top5) << " (reference 5th-6th logit gap "
                      << want["gap5"].get<double>()
                      << "; reference logits of transferwatch's top-5:" << detail.str() << ")";
      }
      const int label = want["label"].get<int>();
      EXPECT_EQ(got.value("correct", false), want_top5[0] == label) << path;
      const double want_prob = want["true_prob"].get<double>();
      ASSERT_TRUE(got["true_prob"].is_number()) << path << ": " << got.dump();
      const double got_prob = got["true_prob"].get<double>();
      const double abs_diff = std::fabs(got_prob - want_prob);
      const double rel_diff = abs_diff / want_prob;
      max_abs = std::max(max_abs, abs_diff);
      max_rel = std::max(max_rel, rel_diff);
      if (!(rel_diff <= 1e-4)) {
        ++prob_mismatches;
        ADD_FAILURE() << path << ": true_prob " << got_prob << ", reference " << want_prob
                      << " (relative difference " << rel_diff << " > 1e-4)";
      }
    }
    // top1/top5 are counts over n in percent: equal counts give the same doubles.
    EXPECT_DOUBLE_EQ(result.value("top1", -1.0), reference["top1"].get<double>());
    EXPECT_DOUBLE_EQ(result.value("top5", -1.0), reference["top5"].get<double>());
    ASSERT_TRUE(result["nll"].is_number()) << result.dump();
    const double nll_diff = std::fabs(result["nll"].get<double>() - reference["nll"].get<double>());
    EXPECT_LE(nll_diff, 1e-4);
    std::cout << "[" << tag << "] " << n << " images: top-5 equal on " << n - top5_mismatches << "/"
              << n << ", true_prob within 1e-4 relative on " << n - prob_mismatches << "/" << n
              << "; max |diff| of true_prob " << max_abs << " (max relative " << max_rel
              << "); top-1 " << result.value("top1", -1.0) << "% vs "
              << reference["top1"].get<double>() << "%, top-5 " << result.value("top5", -1.0)
              << "% vs " << reference["top5"].get<double>() << "%, NLL "
              << result["nll"].get<double>() << " vs " << reference["nll"].get<double>()
              << " (|diff| " << nll_diff << ")" << std::endl;
  }

  // Asserts that `run` failed with a message (on stderr) and that the evaluator did not crash.
  static void ExpectCleanFailure(const CliRun& run) {
    EXPECT_EQ(run.signal, 0) << run.Describe();
    EXPECT_NE(run.exit_code, 0) << run.Describe();
    EXPECT_THAT(run.err, HasSubstr("transferwatch: error: ")) << run.Describe();
    EXPECT_THAT(run.err, Not(AnyOf(HasSubstr("killed by signal"), HasSubstr("terminate called"))))
        << "the evaluator crashed instead of reporting the error:\n"
        << run.Describe();
  }

  TempDir state_;
  bool started_ = false;
};

// Issue 3 item 8: the same files through transferwatch eval and through timm's validate.py loop
// (PIL + torchvision + PyTorch, the same frozen and optimised graph, threads and batches) give
// the same top-5 per image, the same true-class probabilities and the same aggregates.
TEST_F(EvalEndToEndTest, MatchesTheTorchvisionReferencePerImage) {
  ExpectMatchesReference("parity", Fixture("parity"), GetFixtures().reference,
                         Fixture("reference_logits.f32"));
}

// The same on real photographs (scikit-image's data folder, which scripts/setup copies into
// .cache/skimage-data): each one as it is (PNG: RGB, greyscale, RGBA; baseline JPEG) and
// re-encoded as a JPEG q90. Without the photographs the test fails: a skipped test would look
// like a passing one.
TEST_F(EvalEndToEndTest, MatchesTheReferenceOnRealPhotographs) {
  const std::string photos = PhotosDir();
  ASSERT_GT(CountPhotographs(photos), 0) << "no photograph (*.png, *.jpg) in " << photos
                                         << ": run scripts/setup: it fetches the test photographs";
  const PhotoFixtures& fixtures = GetPhotoFixtures();
  ASSERT_TRUE(fixtures.error.empty()) << fixtures.error;
  ASSERT_EQ(fixtures.reference.value("n", -1), 2 * CountPhotographs(photos))
      << "each photograph as it is and as a JPEG q90";
  ExpectMatchesReference("photos", Fixture("photos"), fixtures.reference,
                         Fixture("photos_reference_logits.f32"));
}

// Issue 3 item 5: same key, same predictions bit for bit; `eval --force` proves it.
TEST_F(EvalEndToEndTest, ForcedRerunReproducesThePredictionsBitForBit) {
  AddDataset("ds", Fixture("parity"));
  CliRun first = Eval(Fixture("model.pt"), "ds");
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  const std::string digest = OnlyEvaluation(first).value("predictions_digest", "");
  ASSERT_EQ(digest.size(), 64u) << first.Describe();

  CliRun cached = Eval(Fixture("model.pt"), "ds");
  ASSERT_EQ(cached.exit_code, 0) << cached.Describe();
  EXPECT_TRUE(OnlyEvaluation(cached).value("cached", false)) << "a known key comes from the store";

  // The note is in the table format.
  CliRun forced = Eval(Fixture("model.pt"), "ds", {"--force"}, "table");
  EXPECT_EQ(forced.exit_code, 0) << forced.Describe();
  EXPECT_THAT(forced.out, HasSubstr("reproduced bit for bit")) << forced.Describe();
  EXPECT_THAT(forced.out, Not(HasSubstr("NOT reproduced"))) << forced.Describe();
}

// Issue 3 item 5: "test whether the thread count changes predictions: if it does, it joins the
// key". Threads are not in the eval config, so --threads 1 maps to the key of a --threads 2 run,
// and `--force` checks the predictions digest against the recorded one.
TEST_F(EvalEndToEndTest, ThreadCountDoesNotChangePredictions) {
  AddDataset("ds", Fixture("parity"));
  CliRun two = Eval(Fixture("model.pt"), "ds", {}, "json", 2);
  ASSERT_EQ(two.exit_code, 0) << two.Describe();
  const Json with_two = OnlyEvaluation(two);
  CliRun one = Eval(Fixture("model.pt"), "ds", {"--force"}, "table", 1);
  const bool reproduced =
      one.exit_code == 0 && one.out.find("reproduced bit for bit") != std::string::npos;
  std::cout << "[threads] --threads 1 after --threads 2 (same evaluation key "
            << with_two.value("evaluation_key", "").substr(0, 12) << "): predictions "
            << (reproduced ? "reproduced bit for bit: the thread count does not change them"
                           : "DIFFER: the thread count changes predictions")
            << std::endl;
  EXPECT_TRUE(reproduced)
      << "the thread count changes predictions: it must join the evaluation key (--threads 2 "
         "then --threads 1 --force on the same key):\n"
      << one.Describe();
}

// Issue 3 item 2: a state dict with --arch (another random init of the same architecture) is
// the same model as the TorchScript file of those weights: the same predictions, bit for bit,
// under another evaluation key (the checkpoint bytes differ).
TEST_F(EvalEndToEndTest, StateDictWithArchGivesTheTorchScriptPredictions) {
  AddDataset("ds", Fixture("parity"));
  CliRun script = Eval(Fixture("model.pt"), "ds");
  ASSERT_EQ(script.exit_code, 0) << script.Describe();
  CliRun state = Eval(Fixture("model_state_dict.pt"), "ds", {"--arch", Fixture("arch.pt")});
  ASSERT_EQ(state.exit_code, 0) << state.Describe();
  const Json a = OnlyEvaluation(script);
  const Json b = OnlyEvaluation(state);
  EXPECT_NE(a.value("evaluation_key", ""), b.value("evaluation_key", ""));
  EXPECT_EQ(a.value("predictions_digest", "a"), b.value("predictions_digest", "b"))
      << "TorchScript:\n"
      << script.Describe() << "state dict + arch:\n"
      << state.Describe();
  EXPECT_EQ(a.value("top1", -1.0), b.value("top1", -2.0));
}

// Issue 3 item 7, one bad input each: an error that names the file and the reason.

TEST_F(EvalEndToEndTest, TruncatedJpegFailsTheDatasetNamingTheFile) {
  AddDataset("ds", Fixture("bad_truncated"));  // dataset add hashes, it does not decode
  CliRun eval = Eval(Fixture("model.pt"), "ds");
  ExpectCleanFailure(eval);
  EXPECT_THAT(eval.err, AllOf(HasSubstr("n01440764/truncated.jpg"),
                              AnyOf(HasSubstr("truncated"), HasSubstr("corrupt"),
                                    HasSubstr("premature end"))))
      << eval.Describe();
  EXPECT_TRUE(Results("ds").empty()) << "a failed dataset records nothing";
}

TEST_F(EvalEndToEndTest, SkipBadImagesCountsAndRecordsTheTruncatedJpeg) {
  AddDataset("ds", Fixture("bad_truncated"));
  CliRun eval = Eval(Fixture("model.pt"), "ds", {"--skip-bad-images", "--run", "skip"});
  ASSERT_EQ(eval.exit_code, 0) << eval.Describe();
  EXPECT_EQ(OnlyEvaluation(eval).value("n", -1), 2) << "two good images scored";
  // The count is in the evaluation's metrics, which `results --sort METRIC` shows.
  Json results = Results("ds", {"--sort", "bad_images"});
  ASSERT_EQ(results.size(), 1u) << results.dump();
  EXPECT_EQ(results[0].value("bad_images", Json()), Json(1)) << results.dump();
  std::vector<Json> rows = Export("skip/model.pt", "ds");
  ASSERT_EQ(rows.size(), 3u);
  for (const Json& row : rows) {
    const bool bad = row.value("path", "") == "n01440764/truncated.jpg";
    EXPECT_EQ(row.value("excluded", !bad), bad) << row.dump();
  }
}

TEST_F(EvalEndToEndTest, EmptyFileFailsNamingTheFile) {
  AddDataset("ds", Fixture("bad_empty"));
  CliRun eval = Eval(Fixture("model.pt"), "ds");
  ExpectCleanFailure(eval);
  EXPECT_THAT(eval.err, AllOf(HasSubstr("n01440764/empty.jpg"),
                              AnyOf(HasSubstr("empty"), HasSubstr("0 bytes"))))
      << eval.Describe();
}

TEST_F(EvalEndToEndTest, DecompressionBombFailsNamingTheFile) {
  AddDataset("ds", Fixture("bad_bomb"));
  CliRun eval = Eval(Fixture("model.pt"), "ds");
  ExpectCleanFailure(eval);
  EXPECT_THAT(eval.err, AllOf(HasSubstr("n01440764/bomb.png"), HasSubstr("100000x100000"),
                              HasSubstr("decompression bomb")))
      << eval.Describe();
}

TEST_F(EvalEndToEndTest, FileChangedAfterDatasetAddIsRefused) {
  TempDir copy;
  const std::string root = copy.Sub("small");
  std::filesystem::copy(Fixture("small"), root, std::filesystem::copy_options::recursive);
  AddDataset("ds", root);
  const std::string changed = root + "/n01440764/good_0.jpg";
  ::tw::testing::WriteTestFile(changed, ::tw::testing::ReadTestFile(changed) + "x");
  CliRun eval = Eval(Fixture("model.pt"), "ds");
  ExpectCleanFailure(eval);
  EXPECT_THAT(eval.err, AllOf(HasSubstr("n01440764/good_0.jpg"),
                              HasSubstr("changed since the dataset's manifest was made")))
      << eval.Describe();
}

TEST_F(EvalEndToEndTest, ClassListNotMatchingTheFoldersFailsDatasetAdd) {
  CliRun add = Cli({"dataset", "add", "ds", Fixture("bad_classes"), "--layout", "wnid-folders",
                    "--classes", ClassList()});
  ExpectCleanFailure(add);
  EXPECT_THAT(add.err, AllOf(HasSubstr("n99999999"), HasSubstr("not in the class list")))
      << add.Describe();
}

TEST_F(EvalEndToEndTest, WrongNumberOfModelClassesNamesBothNumbers) {
  AddDataset("ds", Fixture("small"));
  CliRun eval = Eval(Fixture("model10.pt"), "ds");
  ExpectCleanFailure(eval);
  // The issue: "an error that names the file and the reason": here the checkpoint, and both
  // class counts.
  EXPECT_THAT(eval.err, AllOf(HasSubstr("model10.pt"), HasSubstr("10 classes"), HasSubstr("1000")))
      << eval.Describe();
}

TEST_F(EvalEndToEndTest, NanLogitsAreAnError) {
  AddDataset("ds", Fixture("small"));
  CliRun eval = Eval(Fixture("nan_model.pt"), "ds");
  ExpectCleanFailure(eval);
  // Names where it happened (the checkpoint, or the image it happened on) and the reason.
  EXPECT_THAT(eval.err, AllOf(AnyOf(HasSubstr("nan_model.pt"), HasSubstr("n01440764/good_0.jpg")),
                              HasSubstr("non-finite")))
      << eval.Describe();
  EXPECT_TRUE(Results("ds").empty());
}

TEST_F(EvalEndToEndTest, NotATorchFileIsRefusedAndNothingIsRecorded) {
  AddDataset("ds", Fixture("small"));
  CliRun eval = Eval(Fixture("not_a_model.pt"), "ds");
  ExpectCleanFailure(eval);
  EXPECT_THAT(eval.err,
              AllOf(HasSubstr("not_a_model.pt"), HasSubstr("not a TorchScript or state-dict file")))
      << eval.Describe();
  EXPECT_TRUE(Results("ds").empty());
}

TEST_F(EvalEndToEndTest, StateDictWithoutArchAsksForArch) {
  AddDataset("ds", Fixture("small"));
  CliRun eval = Eval(Fixture("model_state_dict.pt"), "ds");
  ExpectCleanFailure(eval);
  EXPECT_THAT(eval.err, AllOf(HasSubstr("model_state_dict.pt"), HasSubstr("--arch")))
      << eval.Describe();
  EXPECT_TRUE(Results("ds").empty());
}

}  // namespace
}  // namespace tw
