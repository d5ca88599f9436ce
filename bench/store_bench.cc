// Store benchmarks, against a running PostgreSQL (bench/run starts a throwaway one):
//   - the full timm import into an empty database, and importing it again;
//   - the pool report over every imported model;
//   - `results` query latency (p50/p95) with 1,000,000 evaluation rows in the store.
// Prints one table; each figure is the median (or percentile) of repeated runs in this process.
//
// Usage: store_bench ADMIN_CONNINFO DATA_DIR [--rows N] [--reps N] [--keep]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "importer/timm_import.h"
#include "reports/transfer_report.h"
#include "store/migrations.h"
#include "store/pg_admin.h"
#include "store/pg_store.h"

namespace tw {
namespace {

using Clock = std::chrono::steady_clock;

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  size_t index = static_cast<size_t>(p * (samples.size() - 1) + 0.5);
  return samples[std::min(index, samples.size() - 1)];
}

void Die(const Status& status) {
  std::fprintf(stderr, "store_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Check(StatusOr<T> value) {
  if (!value.ok()) Die(value.status());
  return std::move(*value);
}

bool g_keep = false;  // --keep: leave the databases behind for EXPLAIN ANALYZE sessions

struct Database {
  std::string admin, name, conninfo;
  Database(const std::string& admin_conninfo, const std::string& db_name)
      : admin(admin_conninfo),
        name(db_name),
        conninfo(ConninfoForDatabase(admin_conninfo, db_name)) {
    Status dropped = DropDatabase(admin, name);
    if (!dropped.ok()) Die(dropped);
    Status created = CreateDatabase(admin, name);
    if (!created.ok()) Die(created);
  }
  ~Database() {
    if (!g_keep) (void)DropDatabase(admin, name);
  }
  std::unique_ptr<PgStore> Connect(bool migrate) {
    auto store = Check(PgStore::Connect(conninfo));
    if (migrate) Check(store->Migrate(Check(EmbeddedMigrations()), false));
    return store;
  }
};

void Row(const char* what, double value, const char* unit, const char* target) {
  std::printf("  %-58s %10.1f %-4s %s\n", what, value, unit, target);
}

// Fills the store with synthetic evaluator results: `runs` runs x `steps` checkpoints x
// `datasets` datasets, each with top-1/top-5, nll and ece, spread over 90 days.
void Generate(const std::string& conninfo, int runs, int steps, int datasets) {
  std::string sql =
      "INSERT INTO tw.runs (name) SELECT 'run-' || r FROM generate_series(1, " +
      std::to_string(runs) +
      ") r;"
      "INSERT INTO tw.checkpoints (origin, sha256, run_id, name, step, size_bytes) "
      "SELECT 'file', encode(sha256(('bench-ckpt-' || r.id || '-' || s)::bytea), 'hex'), r.id, "
      "  'step_' || lpad(s::text, 6, '0') || '.pt', s * 1000, 46800000 "
      "FROM tw.runs r CROSS JOIN generate_series(1, " +
      std::to_string(steps) +
      ") s WHERE r.name LIKE 'run-%';"
      "INSERT INTO tw.datasets (name, reference_id, manifest_sha256) "
      "SELECT 'bench-variant-' || d, (SELECT id FROM tw.datasets WHERE name = 'imagenet'), "
      "  encode(sha256(('bench-manifest-' || d)::bytea), 'hex') "
      "FROM generate_series(1, " +
      std::to_string(datasets) +
      ") d;"
      "INSERT INTO tw.eval_configs (sha256, hash_version, canonical) VALUES "
      "  (encode(sha256('bench-config'::bytea), 'hex'), 1, "
      "   '{\"batch_size\":64,\"crop_pct\":0.875,\"device\":\"cpu\",\"img_size\":224}');"
      "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, "
      "  manifest_sha256, source, top1, top5, num_samples, nll, ece, provenance, created_at) "
      "SELECT encode(sha256(('bench-eval-' || c.id || '-' || d.id)::bytea), 'hex'), c.id, d.id, "
      "  (SELECT id FROM tw.eval_configs WHERE canonical LIKE '{\"batch_size\":64%'), "
      "  d.manifest_sha256, 'evaluator', v.top1, least(100, v.top1 + 15), 50000, "
      "  round((3 - v.top1 / 40)::numeric, 4), round((random() * 0.1)::numeric, 4), "
      "  '{\"host\":\"bench\"}', now() - random() * interval '90 days' "
      "FROM tw.checkpoints c CROSS JOIN tw.datasets d "
      "CROSS JOIN LATERAL (SELECT round((40 + random() * 50)::numeric, 3)::float8 AS top1 "
      "  WHERE c.id > 0) v "
      "WHERE c.origin = 'file' AND d.name LIKE 'bench-variant-%';"
      "ANALYZE;";
  Status status = ExecuteSql(conninfo, sql);
  if (!status.ok()) Die(status);
}

// History-query latency on the generated store (tw_bench_store).
int Queries(const std::string& admin, int reps) {
  auto store = Check(PgStore::Connect(ConninfoForDatabase(admin, "tw_bench_store")));
  StoreCounts counts = Check(store->Counts());
  const int datasets = 20;
  const int runs = 200;
  struct Shape {
    const char* name;
    std::function<ResultQuery()> make;
  };
  int counter = 0;
  std::vector<Shape> shapes = {
      {"leaderboard: --dataset D --sort top1 --limit 20",
       [&] {
         ResultQuery q;
         q.datasets = {"bench-variant-" + std::to_string(1 + counter++ % datasets)};
         q.sort_metric = "top1";
         q.limit = 20;
         return q;
       }},
      {"one run's history: --run R --limit 100",
       [&] {
         ResultQuery q;
         q.run_glob = "run-" + std::to_string(1 + counter++ % runs);
         q.limit = 100;
         return q;
       }},
      {"one run on one dataset: --model 'R/*' --dataset D (all rows)",
       [&] {
         ResultQuery q;
         q.model_glob = "run-" + std::to_string(1 + counter++ % runs) + "/*";
         q.datasets = {"bench-variant-3"};
         return q;
       }},
      {"recent: --since 1d --limit 50",
       [&] {
         ResultQuery q;
         q.since = std::chrono::system_clock::now() - std::chrono::hours(24);
         q.limit = 50;
         return q;
       }},
      {"imported models: --model 'resnet50*'",
       [&] {
         ResultQuery q;
         q.model_glob = "resnet50*";
         return q;
       }},
      {"by metric: --dataset D --sort nll --limit 20",
       [&] {
         ResultQuery q;
         q.datasets = {"bench-variant-" + std::to_string(1 + counter++ % datasets)};
         q.sort_metric = "nll";
         q.limit = 20;
         return q;
       }},
      {"one checkpoint (what compare reads)",
       [&] {
         ResultQuery q;
         q.checkpoint_id = 2000 + counter++ % 40000;
         return q;
       }},
  };
  std::printf("\n  results query latency over %lld rows (%d queries each, after 5 warm-ups)\n",
              static_cast<long long>(counts.evaluations), reps);
  std::printf("  %-58s %8s %8s %8s\n", "query", "p50 ms", "p95 ms", "rows");
  for (const auto& shape : shapes) {
    std::vector<double> samples;
    size_t returned = 0;
    for (int i = 0; i < reps + 5; ++i) {
      ResultQuery q = shape.make();
      auto t0 = Clock::now();
      auto result = Check(store->QueryResults(q));
      if (i >= 5) samples.push_back(Millis(Clock::now() - t0));
      returned = result.size();
    }
    std::printf("  %-58s %8.2f %8.2f %8zu\n", shape.name, Percentile(samples, 0.5),
                Percentile(samples, 0.95), returned);
  }
  std::printf("  (target: p95 < 50 ms)\n");
  return 0;
}

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: store_bench ADMIN_CONNINFO DATA_DIR [--rows N] [--reps N]\n");
    return 2;
  }
  std::string admin = argv[1];
  std::string timm_dir = std::string(argv[2]) + "/timm-results";
  long rows = 1000000;
  int reps = 200;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rows") rows = std::atol(argv[i + 1]);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
  }
  bool queries_only = false;  // --queries-only: reuse a database left by --keep
  for (int i = 3; i < argc; ++i) {
    if (std::string(argv[i]) == "--keep") g_keep = true;
    if (std::string(argv[i]) == "--queries-only") queries_only = g_keep = true;
  }

  std::printf("\nStore (PostgreSQL over a unix socket, this process as the client)\n");
  if (queries_only) return Queries(admin, reps);
  // Import: a fresh database each time.
  std::vector<double> parse_ms, import_ms, reimport_ms;
  for (int i = 0; i < 5; ++i) {
    Database db(admin, "tw_bench_import");
    auto store = db.Connect(true);
    auto t0 = Clock::now();
    TimmImportPlan plan = Check(ReadTimmResults(timm_dir));
    auto t1 = Clock::now();
    ImportResult first = Check(store->ImportEvaluations(plan.batch, ImportMode::kAddNew));
    auto t2 = Clock::now();
    ImportResult second = Check(store->ImportEvaluations(plan.batch, ImportMode::kAddNew));
    auto t3 = Clock::now();
    if (first.evaluations_inserted != 12448 || second.evaluations_inserted != 0) {
      Die(InternalError("unexpected import counts"));
    }
    parse_ms.push_back(Millis(t1 - t0));
    import_ms.push_back(Millis(t2 - t0));
    reimport_ms.push_back(Millis(t3 - t2));
  }
  Row("timm import, 8 files, 12,448 rows: read + validate", Percentile(parse_ms, 0.5), "ms", "");
  Row("timm import, full (read + one transaction), median of 5", Percentile(import_ms, 0.5), "ms",
      "target < 2000 ms");
  Row("timm re-import (changes nothing), median of 5", Percentile(reimport_ms, 0.5), "ms", "");

  Database db(admin, "tw_bench_store");
  auto store = db.Connect(true);
  Check(store->ImportEvaluations(Check(ReadTimmResults(timm_dir)).batch, ImportMode::kAddNew));
  std::vector<double> report_ms;
  size_t variants = 0;
  for (int i = 0; i < 10; ++i) {
    auto t0 = Clock::now();
    TransferReport report = Check(BuildTransferReport(*store, TransferReportOptions{}));
    report_ms.push_back(Millis(Clock::now() - t0));
    variants = report.variants.size();
  }
  char what[128];
  std::snprintf(what, sizeof(what), "report over all models (%zu variants x ~1,556), median of 10",
                variants);
  Row(what, Percentile(report_ms, 0.5), "ms", "target < 1000 ms");

  // A million evaluation rows.
  const int datasets = 20;
  const int runs = 200;
  const int steps = static_cast<int>(rows / (datasets * runs));
  auto g0 = Clock::now();
  Generate(db.conninfo, runs, steps, datasets);
  StoreCounts counts = Check(store->Counts());
  std::snprintf(what, sizeof(what), "generate %lld evaluation rows (server-side SQL, indexed)",
                static_cast<long long>(counts.evaluations));
  Row(what, Millis(Clock::now() - g0) / 1000, "s", "");

  return Queries(admin, reps);
}

}  // namespace
}  // namespace tw

int main(int argc, char** argv) { return tw::Main(argc, argv); }
