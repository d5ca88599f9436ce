// The pool report (`transferwatch report`, reports/transfer_report.h) over every imported timm
// model, and over the same plus N file checkpoints (default 1,000: 4 runs x 250 steps) evaluated
// on imagenet and every variant, against a running PostgreSQL (bench/run starts a throwaway
// one). Each pool is timed four ways, median of --reps runs:
//   - in-process: BuildTransferReport alone (the queries and the statistics);
//   - in-process: the same plus the JSON document the CLI and the API print;
//   - end to end: the `transferwatch report` program (table), as a user runs it;
//   - end to end: `transferwatch report --format json` (every entry's residual).
// Prints the two pools side by side.
//
// The checkpoints' accuracies are synthetic but shaped like real training: an imagenet top-1
// that rises along the run towards its final value, and on each variant the logit-linear fit of
// the timm pool on its reference (effective robustness) plus noise of the pool's own spread, so
// the statistics have the work they have on real data. Seeded: every run makes the same store.
//
// Usage: pool_report_bench ADMIN_CONNINFO DATA_DIR TRANSFERWATCH [--checkpoints N] [--reps N]
//        [--keep]
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "importer/timm_import.h"
#include "protocol/eval_config.h"
#include "reports/transfer_report.h"
#include "scoring/records.h"
#include "store/migrations.h"
#include "store/pg_admin.h"
#include "store/pg_store.h"

namespace tw {
namespace {

using Clock = std::chrono::steady_clock;

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

void Die(const Status& status) {
  std::fprintf(stderr, "pool_report_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Check(StatusOr<T> value) {
  if (!value.ok()) Die(value.status());
  return std::move(*value);
}

double Logit(double percent) {
  double p = std::clamp(percent / 100, 1e-6, 1 - 1e-6);
  return std::log(p / (1 - p));
}
double FromLogit(double x) { return 100 / (1 + std::exp(-x)); }

// One pool's figures.
struct Timings {
  long long entries = 0;  // pool entries summed over the variants
  size_t variants = 0;
  double build_ms = 0, build_json_ms = 0, cli_table_ms = 0, cli_json_ms = 0;
  double queries_ms = 0;  // of the build: Store::QueryPool for every variant
  size_t table_bytes = 0, json_bytes = 0;
};

// Runs `transferwatch report` once with its stdout in a file, as `report > FILE` from a shell
// (no pipe reader of ours in the timing); returns the output's size, or exits on failure.
size_t RunReport(const std::string& cli, const std::string& conninfo, bool json,
                 const std::string& out_path) {
  std::vector<std::string> args = {cli, "--database", conninfo, "report"};
  if (json) args.insert(args.end(), {"--format", "json"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die(InternalError(cli + " report failed (status " + std::to_string(status) + ")"));
  }
  struct stat st {};
  if (::stat(out_path.c_str(), &st) != 0) Die(InternalError("no output in " + out_path));
  return static_cast<size_t>(st.st_size);
}

Timings Measure(PgStore& store, const std::string& cli, const std::string& conninfo, int reps) {
  Timings t;
  const std::string out_path = "/tmp/tw_pool_report_bench." + std::to_string(::getpid());
  std::vector<double> build, build_json, table, json, queries;
  std::vector<std::pair<int64_t, int64_t>> pairs;  // (variant, reference) dataset ids
  std::vector<DatasetInfo> datasets = Check(store.ListDatasets());
  for (const auto& d : datasets) {
    for (const auto& r : datasets) {
      if (d.reference && r.name == *d.reference) pairs.emplace_back(d.id, r.id);
    }
  }
  // One warm-up of each: the server's caches and the plans, as in steady use.
  RunReport(cli, conninfo, false, out_path);
  Check(BuildTransferReport(store, TransferReportOptions{}));
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    TransferReport report = Check(BuildTransferReport(store, TransferReportOptions{}));
    auto t1 = Clock::now();
    std::string text = TransferReportToJson(report).dump(2);
    auto t2 = Clock::now();
    build.push_back(Millis(t1 - t0));
    auto q0 = Clock::now();
    for (const auto& [variant, reference] : pairs) Check(store.QueryPool(variant, reference));
    queries.push_back(Millis(Clock::now() - q0));
    build_json.push_back(Millis(t2 - t0));
    t.variants = report.variants.size();
    t.entries = 0;
    for (const auto& v : report.variants) t.entries += v.stats.n;

    t0 = Clock::now();
    t.table_bytes = RunReport(cli, conninfo, false, out_path);
    t1 = Clock::now();
    t.json_bytes = RunReport(cli, conninfo, true, out_path);
    t2 = Clock::now();
    table.push_back(Millis(t1 - t0));
    json.push_back(Millis(t2 - t1));
  }
  t.build_ms = Median(build);
  t.build_json_ms = Median(build_json);
  t.queries_ms = Median(queries);
  t.cli_table_ms = Median(table);
  t.cli_json_ms = Median(json);
  ::unlink(out_path.c_str());
  return t;
}

// The timm pool's logit-linear fit of each variant on its reference, and the spread around it.
struct Fit {
  std::string reference;
  double slope = 1, intercept = 0, sd = 0.1;  // in logit space
};

std::map<std::string, Fit> FitVariants(PgStore& store) {
  std::map<std::string, Fit> fits;
  TransferReport report = Check(BuildTransferReport(store, TransferReportOptions{}));
  for (const auto& v : report.variants) {
    if (!v.stats.er_slope || !v.stats.er_intercept) continue;
    Fit fit{v.reference, *v.stats.er_slope, *v.stats.er_intercept, 0};
    double sum = 0;
    for (const auto& r : v.stats.residuals) {
      double e = Logit(r.variant) - (fit.intercept + fit.slope * Logit(r.reference));
      sum += e * e;
    }
    fit.sd = v.stats.residuals.size() > 1 ? std::sqrt(sum / (v.stats.residuals.size() - 1)) : 0.1;
    fits[v.dataset] = fit;
  }
  return fits;
}

// `checkpoints` file checkpoints over `runs` runs, each evaluated on imagenet and on every
// variant of the fits (a variant after its reference: imagenet-a after imagenet-a-clean).
void AddCheckpoints(PgStore& store, const std::map<std::string, Fit>& fits, int checkpoints,
                    int runs) {
  std::mt19937_64 rng(20261204);
  std::normal_distribution<double> unit(0, 1);
  EvalConfig config;
  NormalizeEvalConfig(/*resize_and_crop=*/true, &config);
  HashedJson hashed = Check(HashEvalConfig(config));
  ImportedEvalConfig stored_config{hashed.sha256, hashed.hash_version, hashed.canonical};
  const std::string no_predictions = scoring::EncodeRecords({});
  const std::string digest = scoring::RecordsDigest(no_predictions);

  // Reference-first order, so each variant can be drawn from its reference's value.
  std::vector<std::string> order;
  std::map<std::string, bool> placed = {{"imagenet", true}};
  while (order.size() < fits.size()) {
    size_t before = order.size();
    for (const auto& [dataset, fit] : fits) {
      if (!placed[dataset] && placed[fit.reference]) {
        order.push_back(dataset);
        placed[dataset] = true;
      }
    }
    if (order.size() == before) Die(InternalError("a variant's reference has no values"));
  }

  const int steps = checkpoints / runs;
  for (int r = 0; r < runs; ++r) {
    std::string run = "bench-run-" + std::to_string(r + 1);
    double final_top1 = 76 + 6.0 * r / std::max(1, runs - 1);  // 76 .. 82
    for (int s = 1; s <= steps; ++s) {
      CheckpointFileRegistration reg;
      reg.run = run;
      reg.file_name = "step_" + std::to_string(s * 1000) + ".pt";
      reg.sha256 = Sha256Hex(run + "/" + reg.file_name);
      reg.size_bytes = 102000000;
      reg.step = s * 1000;
      CheckpointInfo info = Check(store.RegisterCheckpointFile(reg));

      std::map<std::string, double> top1;
      double progress = 1 - std::exp(-4.0 * s / steps);
      top1["imagenet"] = std::clamp(1 + (final_top1 - 1) * progress + 0.15 * unit(rng), 0.1, 99.0);
      for (const auto& dataset : order) {
        const Fit& fit = fits.at(dataset);
        double x = fit.intercept + fit.slope * Logit(top1.at(fit.reference)) + fit.sd * unit(rng);
        top1[dataset] = FromLogit(x);
      }
      for (const auto& [dataset, value] : top1) {
        EvaluationRecord e;
        e.evaluation_key = Check(EvaluatorEvaluationKey(reg.sha256, std::nullopt, dataset,
                                                        Sha256Hex("bench-manifest-" + dataset),
                                                        stored_config.sha256, "pool_report_bench"));
        e.checkpoint_id = info.id;
        e.dataset = dataset;
        e.manifest_sha256 = Sha256Hex("bench-manifest-" + dataset);
        e.eval_config = stored_config;
        e.top1 = std::round(value * 1000) / 1000;  // three decimals, as recorded results have
        e.top5 = std::min(100.0, std::round((e.top1 + (100 - e.top1) * 0.6) * 1000) / 1000);
        e.num_samples = 10000;
        e.provenance_json = R"({"host":"bench"})";
        e.predictions = no_predictions;
        e.predictions_digest = digest;
        Check(store.RecordEvaluation(e));
      }
    }
  }
}

int Main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: pool_report_bench ADMIN_CONNINFO DATA_DIR TRANSFERWATCH "
                 "[--checkpoints N] [--reps N] [--keep]\n");
    return 2;
  }
  std::string admin = argv[1];
  std::string timm_dir = std::string(argv[2]) + "/timm-results";
  std::string cli = argv[3];
  int checkpoints = 1000, runs = 4, reps = 10;
  bool keep = false;
  for (int i = 4; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--keep") keep = true;
    if (i + 1 < argc && flag == "--checkpoints") checkpoints = std::atoi(argv[++i]);
    if (i + 1 < argc && flag == "--reps") reps = std::atoi(argv[++i]);
  }
  if (checkpoints < runs || reps < 1) Die(InvalidArgumentError("--checkpoints >= 4, --reps >= 1"));

  auto check = [](const Status& status) {
    if (!status.ok()) Die(status);
  };
  const std::string name = "tw_bench_pool";
  check(DropDatabase(admin, name));
  check(CreateDatabase(admin, name));
  const std::string conninfo = ConninfoForDatabase(admin, name);
  auto store = Check(PgStore::Connect(conninfo));
  Check(store->Migrate(Check(EmbeddedMigrations()), false));
  Check(store->ImportEvaluations(Check(ReadTimmResults(timm_dir)).batch, ImportMode::kAddNew));
  check(ExecuteSql(conninfo, "ANALYZE"));

  Timings timm = Measure(*store, cli, conninfo, reps);
  auto fits = FitVariants(*store);
  auto g0 = Clock::now();
  AddCheckpoints(*store, fits, checkpoints, runs);
  const int added = checkpoints / runs * runs;
  double generate_s = Millis(Clock::now() - g0) / 1000;
  check(ExecuteSql(conninfo, "ANALYZE"));
  Timings both = Measure(*store, cli, conninfo, reps);
  if (!keep) check(DropDatabase(admin, name));

  std::printf("\nPool report (transferwatch report over every variant), median of %d\n", reps);
  char with[64];
  std::snprintf(with, sizeof(with), "+ %d checkpoints", added);
  std::printf("  %-46s %14s %18s %8s\n", "", "timm only", with, "ratio");
  auto row = [](const char* what, double a, double b, const char* unit) {
    std::printf("  %-46s %11.1f %-2s %15.1f %-2s %7.2fx\n", what, a, unit, b, unit, b / a);
  };
  std::printf("  %-46s %14lld %18lld %7.2fx\n", "pool entries (summed over the variants)",
              timm.entries, both.entries, static_cast<double>(both.entries) / timm.entries);
  std::printf("  %-46s %14zu %18zu\n", "variants", timm.variants, both.variants);
  row("in-process: BuildTransferReport", timm.build_ms, both.build_ms, "ms");
  row("  of which the pool queries (Store::QueryPool)", timm.queries_ms, both.queries_ms, "ms");
  row("in-process: build + JSON document", timm.build_json_ms, both.build_json_ms, "ms");
  row("CLI end to end: transferwatch report (table)", timm.cli_table_ms, both.cli_table_ms, "ms");
  row("CLI end to end: report --format json", timm.cli_json_ms, both.cli_json_ms, "ms");
  row("output: table", timm.table_bytes / 1024.0, both.table_bytes / 1024.0, "KB");
  row("output: json (every entry's residual)", timm.json_bytes / 1024.0, both.json_bytes / 1024.0,
      "KB");
  std::printf("  (adding %d checkpoints x %zu datasets through Store::RecordEvaluation: %.1f s)\n",
              added, fits.size() + 1, generate_s);
  std::printf("  (target: the report over ~1,500 models < 1000 ms)\n");
  return 0;
}

}  // namespace
}  // namespace tw

int main(int argc, char** argv) { return tw::Main(argc, argv); }
