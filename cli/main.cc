// transferwatch: the command-line interface. The composition root of the CLI: parses the
// command line, resolves settings, opens the real store (embedded or URL) and runs a command.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/dataset_commands.h"
#include "cli/db_commands.h"
#include "cli/eval_command.h"
#include "cli/exit_codes.h"
#include "cli/flag_commands.h"
#include "cli/job_commands.h"
#include "cli/plot_command.h"
#include "cli/rescore_command.h"
#include "cli/settings.h"
#include "cli/webhook_commands.h"
#include "common/csv.h"
#include "common/logging.h"
#include "common/time_util.h"
#include "common/version.h"
#include "store/embedded_cluster.h"
#include "store/migrations.h"
#include "store/open_store.h"

namespace tw::cli {
namespace {

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok (an empty result is ok), 1 failed, 2 usage or invalid argument, "
    "3 a named thing not found, 4 database unavailable.";

std::optional<std::string> RealGetEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

EmbeddedClusterOptions ClusterOptions(const DatabaseSettings& db) {
  EmbeddedClusterOptions options;
  options.state_dir = db.state_dir;
  options.cluster_user = db.embedded_user;
  options.fsync = db.embedded_fsync;
  return options;
}

Status DbStatus(const CliSettings& settings, OutputFormat format, std::ostream& out) {
  nlohmann::ordered_json status;
  std::optional<std::string> conninfo;
  std::unique_ptr<EmbeddedCluster> attached;
  if (settings.database.url) {
    status["mode"] = "url";
    status["database"] = RedactConninfo(*settings.database.url);
    conninfo = WithConnectTimeout(*settings.database.url);
  } else {
    TW_ASSIGN_OR_RETURN(auto cluster, EmbeddedCluster::Inspect(ClusterOptions(settings.database)));
    status["mode"] = "embedded";
    status["state_dir"] = cluster.state_dir;
    status["data_dir"] = cluster.data_dir;
    status["socket_dir"] = cluster.socket_dir;
    status["cluster_user"] = cluster.cluster_user;
    status["postgres_bin"] = cluster.pg_bin_dir;
    status["initialized"] = cluster.initialized;
    status["running"] = cluster.running;
    status["pinned"] = cluster.pinned;
    // Hold a user's reference while reading, so a last user leaving meanwhile cannot stop the
    // server underneath; and never start it just to report on it.
    TW_ASSIGN_OR_RETURN(attached,
                        EmbeddedCluster::AttachIfRunning(ClusterOptions(settings.database)));
    status["running"] = attached != nullptr;
    if (attached) conninfo = attached->conninfo();
  }
  if (conninfo) {
    TW_ASSIGN_OR_RETURN(std::unique_ptr<PgStore> store, PgStore::Connect(*conninfo));
    TW_ASSIGN_OR_RETURN(status["server"], store->ServerVersion());
    TW_ASSIGN_OR_RETURN(auto known, EmbeddedMigrations());
    TW_ASSIGN_OR_RETURN(SchemaStatus schema, store->GetSchemaStatus(known));
    status["schema_version"] = schema.applied.empty() ? 0 : schema.applied.back().version;
    status["schema_latest"] = schema.latest_known;
    status["pending_migrations"] = schema.pending.size();
    if (!schema.applied.empty()) {
      TW_ASSIGN_OR_RETURN(StoreCounts counts, store->Counts());
      status["checkpoints"] = counts.checkpoints;
      status["datasets"] = counts.datasets;
      status["evaluations"] = counts.evaluations;
    }
  }
  PrintObject(status, format, out);
  return OkStatus();
}

Status DbMigrate(const CliSettings& settings, bool dry_run, std::ostream& out) {
  TW_ASSIGN_OR_RETURN(auto handle, OpenStore(settings.database, /*migrate=*/false));
  TW_ASSIGN_OR_RETURN(auto known, EmbeddedMigrations());
  TW_ASSIGN_OR_RETURN(auto migrations, handle->store().Migrate(known, dry_run));
  if (migrations.empty()) {
    out << "the schema is up to date (version " << known.back().version << ")\n";
  }
  for (const auto& m : migrations) {
    out << (dry_run ? "would apply " : "applied ") << m.name << " (sha256 "
        << m.checksum.substr(0, 12) << ")\n";
    if (dry_run) out << m.sql << (m.sql.empty() || m.sql.back() == '\n' ? "" : "\n");
  }
  return OkStatus();
}

Status DbStart(const CliSettings& settings, std::ostream& out) {
  if (settings.database.url) {
    return InvalidArgumentError(
        "db start manages the embedded database, but a database URL is configured");
  }
  TW_ASSIGN_OR_RETURN(auto handle, OpenStore(settings.database, /*migrate=*/true));
  TW_RETURN_IF_ERROR(handle->cluster()->Pin());
  out << "the embedded PostgreSQL is running in " << handle->cluster()->state().data_dir
      << " (socket " << handle->cluster()->state().socket_dir
      << "); it stays up until `transferwatch db stop`\n";
  return OkStatus();
}

Status DbStop(const CliSettings& settings, bool force, std::ostream& out) {
  if (settings.database.url) {
    return InvalidArgumentError(
        "db stop manages the embedded database, but a database URL is configured");
  }
  TW_ASSIGN_OR_RETURN(bool stopped,
                      EmbeddedCluster::Stop(ClusterOptions(settings.database), force));
  out << (stopped ? "the embedded PostgreSQL is stopped\n"
                  : "unpinned; the embedded PostgreSQL is still in use and stops when its last "
                    "user leaves (--force stops it now)\n");
  return OkStatus();
}

int Main(int argc, char** argv) {
  CLI::App app{
      "TransferWatch: reproducible evaluation of image-classification checkpoints, and "
      "whether their ImageNet gains transfer.\n" +
      std::string(kExitCodesHelp)};
  app.name("transferwatch");
  app.set_version_flag("--version",
                       std::string("transferwatch ") + kVersion + " (" + kGitDescribe + ")");
  app.fallthrough();
  app.require_subcommand(1);

  GlobalFlags flags;
  std::string format_text = "table";
  app.add_option("--database", flags.database_url,
                 "PostgreSQL URL or conninfo (env TRANSFERWATCH_DATABASE_URL); none = embedded");
  app.add_option("--state-dir", flags.state_dir,
                 "State directory of the embedded database (env TRANSFERWATCH_HOME)");
  app.add_option("--config", flags.config_path, "TOML config file (env TRANSFERWATCH_CONFIG)");
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off");
  app.add_option("--format", format_text, "Output format: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));

  // db
  auto* db = app.add_subcommand("db", "Manage the database (embedded cluster, schema)");
  db->require_subcommand(1);
  auto* db_status = db->add_subcommand("status", "Show where the data lives and its schema");
  bool dry_run = false;
  auto* db_migrate = db->add_subcommand("migrate", "Apply pending schema migrations");
  db_migrate->add_flag("--dry-run", dry_run, "Print what would run, change nothing");
  auto* db_start = db->add_subcommand("start", "Start the embedded cluster and keep it running");
  bool force = false;
  auto* db_stop = db->add_subcommand("stop", "Stop the embedded cluster (when no one uses it)");
  db_stop->add_flag("--force", force, "Stop it even while other programs use it");
  DbBackupOptions backup_options;
  auto* db_backup = db->add_subcommand(
      "backup", "Write the TransferWatch schema to FILE with pg_dump (custom format)");
  db_backup->add_option("FILE", backup_options.file, "The archive to write")->required();
  db_backup->add_flag("--force", backup_options.force, "Replace FILE when it exists");
  DbRestoreOptions restore_options;
  auto* db_restore = db->add_subcommand(
      "restore", "Restore a `db backup` archive into this (empty) database with pg_restore");
  db_restore->add_option("FILE", restore_options.file, "The archive to read")->required();
  db_restore->add_flag("--force", restore_options.force,
                       "Replace the TransferWatch data this database holds");

  // gc
  GcCommandOptions gc_options;
  auto* gc = app.add_subcommand(
      "gc",
      "Retention: drop old per-sample predictions, dead jobs' error history and delivered "
      "webhook events; every aggregate result and flag stays");
  gc->add_option("--per-sample-older-than", gc_options.per_sample_older_than,
                 "Predictions of evaluations older than this (default 90d)");
  gc->add_option("--dead-jobs-older-than", gc_options.dead_jobs_older_than,
                 "Dead jobs finished before this (default 30d)");
  gc->add_option("--delivered-older-than", gc_options.delivered_older_than,
                 "Webhook events delivered before this (default 30d)");
  gc->add_flag("--dry-run", gc_options.dry_run, "Print the figures, change nothing");

  // import
  auto* import = app.add_subcommand("import", "Import published results");
  import->require_subcommand(1);
  ImportTimmOptions import_options;
  auto* import_timm = import->add_subcommand(
      "timm", "Import timm's results-*.csv files (pytorch-image-models/results)");
  import_timm->add_option("DIR", import_options.dir, "Folder with the results CSVs")->required();
  import_timm->add_flag("--update", import_options.update,
                        "Replace recorded imported numbers that differ from these files");

  // dataset
  auto* dataset = app.add_subcommand("dataset", "Evaluation datasets, pinned by manifests");
  dataset->require_subcommand(1);
  auto* dataset_list = dataset->add_subcommand("list", "List datasets and their references");
  DatasetAddOptions add_options;
  auto* dataset_add = dataset->add_subcommand(
      "add", "Register a folder of images as a dataset: hash every file into a manifest");
  dataset_add->add_option("NAME", add_options.name, "Dataset name ([a-z0-9._-])")->required();
  dataset_add->add_option("DIR", add_options.dir, "Folder with the images")->required();
  dataset_add->add_option("--preset", add_options.preset,
                          "imagenet, imagenet-real, imagenetv2-matched-frequency, sketch, "
                          "imagenet-a, imagenet-r or imagenet-c: layout, classes, labels, "
                          "reference");
  dataset_add->add_option("--layout", add_options.layout,
                          "wnid-folders, index-folders, labels-file or corruption-suite");
  dataset_add->add_option("--classes", add_options.classes,
                          "Class list: one name per line, line number = class index");
  dataset_add->add_option("--subset", add_options.subset,
                          "Only these classes compete (names or indices, one per line)");
  dataset_add->add_option("--labels", add_options.labels,
                          "labels-file layout: JSON list of label lists (by file base name) or "
                          "CSV path,label[;label...]");
  dataset_add->add_option("--reference", add_options.reference,
                          "The dataset gains on this one are measured against");
  dataset_add->add_option("--threads", add_options.threads, "Hashing threads (0 = all cores)");
  auto add_preprocessing = [](CLI::App* command, PreprocessingFlags* preprocessing) {
    command->add_option("--img-size", preprocessing->img_size, "Input size (timm default 224)");
    command->add_option("--crop-pct", preprocessing->crop_pct,
                        "Resize the shorter side to floor(img_size / crop_pct) (default 0.875)");
    command->add_option("--interpolation", preprocessing->interpolation, "bilinear or bicubic")
        ->check(CLI::IsMember({"bilinear", "bicubic"}));
    command->add_option("--mean", preprocessing->mean, "Per-channel mean (default ImageNet's)")
        ->delimiter(',');
    command->add_option("--std", preprocessing->std, "Per-channel std (default ImageNet's)")
        ->delimiter(',');
    command->add_option("--channels", preprocessing->channels, "3 (RGB) or 1 (grey)")
        ->check(CLI::IsMember({1, 3}));
  };
  add_preprocessing(dataset_add, &add_options.preprocessing);
  std::string dataset_name;
  int verify_threads = 0;
  auto* dataset_show = dataset->add_subcommand("show", "A dataset's versions and protocol");
  dataset_show->add_option("NAME", dataset_name)->required();
  auto* dataset_verify =
      dataset->add_subcommand("verify", "Re-hash a dataset's folder against its manifest");
  dataset_verify->add_option("NAME", dataset_name)->required();
  dataset_verify->add_option("--threads", verify_threads, "Hashing threads (0 = all cores)");
  auto* dataset_remove =
      dataset->add_subcommand("remove", "Delete a dataset that has no recorded evaluations");
  dataset_remove->add_option("NAME", dataset_name)->required();

  // eval
  EvalOptions eval_options;
  auto* eval = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint file on registered datasets with transferwatch-eval, and "
      "record the results (a known evaluation key is answered from the store)");
  eval->add_option("CKPT", eval_options.checkpoint,
                   "TorchScript archive, or a state dict with --arch")
      ->required();
  eval->add_option("--dataset", eval_options.datasets, "Registered dataset (repeatable)")
      ->required();
  eval->add_option("--arch", eval_options.arch,
                   "TorchScript architecture file for a state-dict checkpoint");
  eval->add_option("--run", eval_options.run, "Run name (default: the checkpoint's folder)");
  add_preprocessing(eval, &eval_options.preprocessing);
  eval->add_option("--batch-size", eval_options.batch_size, "Images per forward pass (default 32)")
      ->check(CLI::Range(1, 4096));
  eval->add_option("--dtype", eval_options.dtype, "fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  eval->add_option("--device", eval_options.device, "cpu, cuda or cuda:N");
  eval->add_flag("--fast-jpeg", eval_options.fast_jpeg,
                 "Decode large JPEGs at reduced size (faster; other pixels: part of the key)");
  eval->add_option("--threads", eval_options.threads, "Model threads (0 = one per core)")
      ->check(CLI::Range(0, 1024));
  eval->add_option("--decode-threads", eval_options.decode_threads,
                   "Image decoding threads (default 1; more for a GPU)")
      ->check(CLI::Range(1, 1024));
  eval->add_option("--normaliser", eval_options.normaliser,
                   "AlexNet error table for corruption suites' CE/mCE (default: the shipped "
                   "ImageNet-C table)");
  eval->add_flag("--skip-bad-images", eval_options.skip_bad_images,
                 "Count and record unreadable images instead of failing the dataset");
  eval->add_flag("--force", eval_options.force,
                 "Run even when the result is recorded, and check it is reproduced bit for bit");

  // predictions export
  ExportOptions export_options;
  auto* predictions = app.add_subcommand("predictions", "Per-sample predictions");
  predictions->require_subcommand(1);
  auto* predictions_export = predictions->add_subcommand(
      "export", "Write a checkpoint's per-sample predictions on a dataset (CSV or JSON lines)");
  predictions_export->add_option("CKPT", export_options.checkpoint, "Checkpoint name")->required();
  predictions_export->add_option("--dataset", export_options.dataset, "Dataset")->required();

  // rescore
  RescoreOptions rescore_options;
  auto* rescore = app.add_subcommand(
      "rescore",
      "Score a checkpoint's stored per-sample predictions under a dataset that shares their "
      "images (a new label set such as ImageNet-ReaL) without running the model, and record it");
  rescore->add_option("CKPT", rescore_options.checkpoint, "sha256 prefix (>= 8 hex) or RUN/FILE")
      ->required();
  rescore->add_option("--dataset", rescore_options.dataset, "The dataset to score")->required();

  // models / checkpoints
  ListCheckpointsOptions models_options;
  models_options.imported_only = true;
  auto* models = app.add_subcommand("models", "Imported models");
  models->require_subcommand(1);
  auto* models_list = models->add_subcommand("list", "List imported models");
  models_list->add_option("GLOB", models_options.glob, "Model name pattern (*, ?, [...])");
  models_list->add_option("--limit", models_options.limit, "At most N rows (0 = all)");

  ListCheckpointsOptions checkpoints_options;
  auto* checkpoints = app.add_subcommand("checkpoints", "Checkpoints (files and imported models)");
  checkpoints->require_subcommand(1);
  auto* checkpoints_list = checkpoints->add_subcommand("list", "List checkpoints");
  checkpoints_list->add_option("GLOB", checkpoints_options.glob,
                               "Pattern over RUN/FILE or the imported model's name");
  checkpoints_list->add_option("--run", checkpoints_options.run_glob, "Run name pattern");
  checkpoints_list->add_option("--limit", checkpoints_options.limit, "At most N rows (0 = all)");

  // results
  ResultsOptions results_options;
  auto* results = app.add_subcommand("results", "Query recorded evaluations");
  results->add_option("--model", results_options.model_glob, "Checkpoint/model name pattern");
  results->add_option("--dataset", results_options.datasets, "Dataset name (repeatable)");
  results->add_option("--run", results_options.run_glob, "Run name pattern");
  results->add_option("--since", results_options.since,
                      "Recorded since: ISO-8601 UTC (2026-12-04T10:00:00Z) or 12h, 7d ago");
  results->add_option("--sort", results_options.sort,
                      "Best first by a metric: top1, top5, or a recorded metric such as nll");
  results->add_flag("--reverse", results_options.reverse, "Worst first");
  results->add_option("--limit", results_options.limit, "At most N rows (0 = all)");

  // compare
  CompareOptions compare_options;
  auto* compare =
      app.add_subcommand("compare", "Compare two checkpoints dataset by dataset (B minus A)");
  compare
      ->add_option("A", compare_options.a,
                   "sha256 prefix (>= 8 hex), RUN/FILE, or MODEL[@IMG_SIZE]")
      ->required();
  compare->add_option("B", compare_options.b, "the other checkpoint")->required();
  compare->add_option("--dataset", compare_options.datasets, "Only these datasets");

  // report
  ReportCommandOptions report_options;
  std::optional<double> delta;
  auto* report = app.add_subcommand(
      "report",
      "Does reference progress transfer? Rank correlations, rank flips and effective "
      "robustness per variant, over every recorded evaluation");
  report->add_option("--reference", report_options.report.reference,
                     "Compare every variant with this dataset instead of its registered reference");
  report->add_option("--dataset", report_options.report.datasets, "Only these variants");
  report->add_option("--delta", delta,
                     "Minimum reference gap of a pair for flips, in points (default 0.5)");
  report
      ->add_option("--top", report_options.report.top,
                   "Pool: the N entries best on each variant's reference")
      ->check(CLI::Range(1, 10000000));
  report->add_flag("--residuals", report_options.residuals,
                   "Table/CSV: list every entry's effective robustness instead of the summary");
  report->add_option("--run", report_options.report.run_glob,
                     "Pool: only the file checkpoints of runs matching this glob");
  report->add_flag("--exclude-imported", report_options.report.exclude_imported,
                   "Pool: leave imported models out (default: everything)");

  // jobs
  auto* jobs = app.add_subcommand("jobs", "The evaluation job queue (filled by transferwatchd)");
  jobs->require_subcommand(1);
  ListJobsOptions jobs_list_options;
  auto* jobs_list = jobs->add_subcommand("list", "List jobs, newest first");
  jobs_list->add_option("--state", jobs_list_options.states,
                        "pending, running, done, dead or cancelled (repeatable)");
  jobs_list->add_option("--dataset", jobs_list_options.dataset, "Only this dataset's jobs");
  jobs_list->add_option("--limit", jobs_list_options.limit,
                        "At most N rows (default 100, 0 = all)");
  JobSelection retry_selection;
  auto* jobs_retry =
      jobs->add_subcommand("retry", "Queue dead or cancelled jobs again, with fresh attempts");
  jobs_retry->add_option("--id", retry_selection.ids, "Job id (repeatable)");
  jobs_retry->add_flag("--dead", retry_selection.all, "Every dead job");
  JobSelection cancel_selection;
  auto* jobs_cancel = jobs->add_subcommand("cancel", "Cancel pending or running jobs");
  jobs_cancel->add_option("--id", cancel_selection.ids, "Job id (repeatable)");
  jobs_cancel->add_flag("--pending", cancel_selection.all, "Every pending job");
  ReevaluateOptions reevaluate_options;
  auto* jobs_reevaluate = jobs->add_subcommand(
      "reevaluate",
      "After an evaluator upgrade: queue the recorded evaluations of older evaluator versions "
      "again for this one (new keys; old results stay)");
  jobs_reevaluate->add_option("--dataset", reevaluate_options.dataset, "Only this dataset");
  jobs_reevaluate->add_flag("--dead", reevaluate_options.include_dead,
                            "Also jobs that ended dead under the older version");
  jobs_reevaluate->add_flag("--pending", reevaluate_options.include_pending,
                            "Also re-key jobs still pending for an older version (cancels them)");
  WaitJobsOptions wait_options;
  auto* jobs_wait = jobs->add_subcommand(
      "wait", "Wait until no job is pending or running (exit 1 when the timeout runs out)");
  jobs_wait->add_option("--timeout", wait_options.timeout, "How long at most (default 10m)");

  // status
  auto* status_command =
      app.add_subcommand("status", "Counts: jobs by state, checkpoints, evaluations, datasets");

  // runs
  auto* runs = app.add_subcommand("runs", "Training runs");
  runs->require_subcommand(1);
  std::string run_name;
  std::string arch_file;
  auto* runs_set_arch = runs->add_subcommand(
      "set-arch", "Set the TorchScript architecture file of a run's state-dict checkpoints");
  runs_set_arch->add_option("RUN", run_name, "Run name")->required();
  runs_set_arch->add_option("FILE", arch_file, "Architecture file")->required();
  auto* runs_clear_arch = runs->add_subcommand("clear-arch", "Forget a run's architecture file");
  runs_clear_arch->add_option("RUN", run_name, "Run name")->required();

  // flags, baseline
  FlagsOptions flags_options;
  auto* flags_command = app.add_subcommand(
      "flags", "Regression flags and no-transfer notes of the paired transfer checks");
  flags_command->require_subcommand(0, 1);
  flags_command->add_option("--run", flags_options.run_glob, "Only this run's checkpoints (glob)");
  flags_command->add_option("--kind", flags_options.kind, "regression or no-transfer");
  flags_command->add_option("--since", flags_options.since,
                            "ISO-8601 UTC or a duration ago (12h, 7d)");
  flags_command->add_flag("--unacknowledged", flags_options.unacknowledged,
                          "Only flags nobody acknowledged");
  flags_command->add_option("--limit", flags_options.limit, "At most N (default 100, 0 = all)");
  int64_t flag_id = 0;
  auto* flags_ack = flags_command->add_subcommand("ack", "Acknowledge a flag");
  flags_ack->add_option("ID", flag_id, "Flag id")->required();
  auto* baseline = app.add_subcommand("baseline", "Checkpoints every new one is compared with");
  baseline->require_subcommand(1);
  std::string baseline_checkpoint;
  std::optional<std::string> baseline_note;
  auto* baseline_pin = baseline->add_subcommand("pin", "Pin a checkpoint as a baseline");
  baseline_pin->add_option("CHECKPOINT", baseline_checkpoint, "Checkpoint name")->required();
  baseline_pin->add_option("--note", baseline_note, "Why (shown in listings)");
  auto* baseline_unpin = baseline->add_subcommand("unpin", "Stop comparing with a baseline");
  baseline_unpin->add_option("CHECKPOINT", baseline_checkpoint, "Checkpoint name")->required();
  auto* baseline_list = baseline->add_subcommand("list", "List pinned baselines");

  // plot
  PlotOptions plot_options;
  std::vector<std::string> plot_formats;
  auto* plot = app.add_subcommand(
      "plot", "Write a run's accuracy chart and its reference-vs-variant scatters as SVG files");
  plot->add_option("--run", plot_options.run, "The run")->required();
  plot->add_option("--out", plot_options.out_dir, "Folder to write into (default .)");
  plot->add_option("--variant", plot_options.variants,
                   "Scatter of this variant (repeatable; default: every variant with a "
                   "checkpoint of the run in its pool)");
  // Like `webhook add`, plot's own --format shadows the global one after the subcommand: svg is
  // the file format, table, json or csv still choose the output format.
  plot->add_option("--format", plot_formats, "svg (table, json or csv here: the output format)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  // webhook
  auto* webhook = app.add_subcommand(
      "webhook", "Webhooks announcing regression flags (Slack, Mattermost, Discord, Teams, JSON)");
  webhook->require_subcommand(1);
  WebhookAddOptions webhook_add_options;
  auto* webhook_add = webhook->add_subcommand("add", "Add a webhook");
  webhook_add->add_option("URL", webhook_add_options.url, "http(s) URL to POST to")->required();
  // `webhook add` has its own --format (the message format), which shadows the global one
  // after the subcommand: table, json or csv given there still choose the output format.
  std::vector<std::string> webhook_add_formats;
  webhook_add
      ->add_option("--format", webhook_add_formats,
                   "slack, mattermost, discord, teams or generic (table, json or csv here: "
                   "the output format)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->required();
  webhook_add->add_option("--secret-file", webhook_add_options.secret_file,
                          "File with the whsec_... signing secret (mode 600); none = generate one");
  webhook_add->add_option("--events", webhook_add_options.events,
                          "Comma list of regression, no-transfer, eval-failed, test "
                          "(default regression)");
  webhook_add->add_flag("--allow-private-network", webhook_add_options.allow_private_network,
                        "Allow loopback, private and link-local addresses (no SSRF guard)");
  auto* webhook_list = webhook->add_subcommand("list", "List webhooks (URLs redacted)");
  int64_t webhook_id = 0;
  auto* webhook_remove = webhook->add_subcommand("remove", "Remove a webhook and its deliveries");
  webhook_remove->add_option("ID", webhook_id, "Webhook id")->required();
  auto* webhook_test =
      webhook->add_subcommand("test", "Send a signed test message now and show the answer");
  webhook_test->add_option("ID", webhook_id, "Webhook id")->required();
  WebhookDeliveriesOptions deliveries_options;
  auto* webhook_deliveries =
      webhook->add_subcommand("deliveries", "List webhook deliveries, newest first");
  webhook_deliveries->add_option("--webhook", deliveries_options.webhook_id, "Only this webhook");
  webhook_deliveries->add_option("--state", deliveries_options.state, "pending, delivered or dead");
  webhook_deliveries->add_option("--limit", deliveries_options.limit,
                                 "At most N rows (default 100, 0 = all)");
  WebhookReplayOptions replay_options;
  auto* webhook_replay =
      webhook->add_subcommand("replay", "Queue a delivery, or every dead one, again");
  webhook_replay->add_option("DELIVERY_ID", replay_options.delivery_id, "Delivery id");
  webhook_replay->add_flag("--dead", replay_options.dead, "Every dead delivery");
  webhook_replay->add_option("--webhook", replay_options.webhook_id,
                             "With --dead: only this webhook's");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  auto settings = ResolveSettings(flags, RealGetEnv, ::geteuid() == 0);
  if (!settings.ok()) {
    std::cerr << "transferwatch: error: " << settings.status().message() << "\n";
    return ExitCodeFor(settings.status());
  }
  InitLogging("transferwatch", settings->log_level);
  OutputFormat format = *ParseOutputFormat(format_text);
  if (webhook_add->parsed()) {
    for (const auto& value : webhook_add_formats) {
      if (value == "table" || value == "json" || value == "csv") {
        format = *ParseOutputFormat(value);
      } else if (!webhook_add_options.format.empty()) {
        std::cerr << "transferwatch: error: --format: two webhook formats given ("
                  << webhook_add_options.format << ", " << value << ")\n";
        return kExitUsage;
      } else {
        webhook_add_options.format = value;
      }
    }
    if (webhook_add_options.format.empty()) {
      std::cerr << "transferwatch: error: --format: webhook add needs the message format: "
                   "slack, mattermost, discord, teams or generic\n";
      return kExitUsage;
    }
  }
  for (const auto& value : plot_formats) {
    if (value == "table" || value == "json" || value == "csv") {
      format = *ParseOutputFormat(value);
    } else {
      plot_options.format = value;
    }
  }
  if (delta) {
    report_options.report.delta = *delta;
  } else {
    report_options.report.delta = settings->report_delta;
  }
  if (!(report_options.report.delta >= 0) || report_options.report.delta > 100) {
    std::cerr << "transferwatch: error: --delta must be between 0 and 100 points\n";
    return kExitUsage;
  }

  Status status;
  if (db_status->parsed()) {
    status = DbStatus(*settings, format, std::cout);
  } else if (db_migrate->parsed()) {
    status = DbMigrate(*settings, dry_run, std::cout);
  } else if (db_start->parsed()) {
    status = DbStart(*settings, std::cout);
  } else if (db_stop->parsed()) {
    status = DbStop(*settings, force, std::cout);
  } else if (db_backup->parsed() || db_restore->parsed()) {
    // Not migrated: a backup is of the schema as it is, and a restore needs an empty target.
    auto handle = OpenStore(settings->database, /*migrate=*/false);
    if (!handle.ok()) {
      status = handle.status();
    } else {
      EmbeddedCluster* cluster = (*handle)->cluster();
      MaintenanceTarget target{(*handle)->store(), (*handle)->conninfo(),
                               cluster ? cluster->state().pg_bin_dir : "", format, std::cout};
      status = db_backup->parsed() ? DbBackupCommand(target, backup_options)
                                   : DbRestoreCommand(target, restore_options);
    }
  } else {
    auto handle = OpenStore(settings->database, /*migrate=*/true);
    if (!handle.ok()) {
      status = handle.status();
    } else {
      CommandContext ctx{(*handle)->store(), format, std::cout, std::chrono::system_clock::now()};
      if (import_timm->parsed()) {
        status = ImportTimm(ctx, import_options);
      } else if (dataset_list->parsed()) {
        status = ListDatasets(ctx);
      } else if (eval->parsed()) {
        eval_options.progress = ::isatty(STDERR_FILENO) != 0;
        eval_options.evaluator = FindEvaluator();
        const char* tmp = std::getenv("TMPDIR");
        eval_options.work_dir = (tmp != nullptr && *tmp == '/') ? tmp : "/tmp";
        if (format == OutputFormat::kCsv) {
          status = InvalidArgumentError("eval prints table or json");
        } else {
          status = Eval(ctx, eval_options);
        }
      } else if (predictions_export->parsed()) {
        export_options.format = format == OutputFormat::kJson ? "jsonl" : "csv";
        status = ExportPredictions(ctx, export_options);
      } else if (rescore->parsed()) {
        status = Rescore(ctx, rescore_options);
      } else if (dataset_add->parsed()) {
        add_options.progress = ::isatty(STDERR_FILENO) != 0;
        status = DatasetAdd(ctx, add_options);
      } else if (dataset_show->parsed()) {
        status = DatasetShow(ctx, dataset_name);
      } else if (dataset_verify->parsed()) {
        status = DatasetVerify(ctx, dataset_name, verify_threads, ::isatty(STDERR_FILENO) != 0);
      } else if (dataset_remove->parsed()) {
        status = DatasetRemove(ctx, dataset_name);
      } else if (models_list->parsed()) {
        status = ListCheckpoints(ctx, models_options);
      } else if (checkpoints_list->parsed()) {
        status = ListCheckpoints(ctx, checkpoints_options);
      } else if (results->parsed()) {
        status = Results(ctx, results_options);
      } else if (compare->parsed()) {
        status = Compare(ctx, compare_options);
      } else if (report->parsed()) {
        status = Report(ctx, report_options);
      } else if (jobs_list->parsed()) {
        status = ListJobsCommand(ctx, (*handle)->store(), jobs_list_options);
      } else if (jobs_retry->parsed()) {
        status = RetryJobsCommand(ctx, (*handle)->store(), retry_selection);
      } else if (jobs_cancel->parsed()) {
        status = CancelJobsCommand(ctx, (*handle)->store(), cancel_selection);
      } else if (jobs_reevaluate->parsed()) {
        status = ReevaluateCommand(ctx, (*handle)->store(), reevaluate_options);
      } else if (jobs_wait->parsed()) {
        status = WaitJobsCommand(ctx, (*handle)->store(), wait_options);
      } else if (status_command->parsed()) {
        status = StatusCommand(ctx, (*handle)->store());
      } else if (flags_ack->parsed()) {
        status = AcknowledgeFlagCommand(ctx, flag_id);
      } else if (flags_command->parsed()) {
        status = FlagsCommand(ctx, flags_options);
      } else if (baseline_pin->parsed()) {
        status = PinBaselineCommand(ctx, baseline_checkpoint, baseline_note);
      } else if (baseline_unpin->parsed()) {
        status = UnpinBaselineCommand(ctx, baseline_checkpoint);
      } else if (baseline_list->parsed()) {
        status = ListBaselinesCommand(ctx);
      } else if (webhook_add->parsed()) {
        status = WebhookAddCommand(ctx, webhook_add_options);
      } else if (webhook_list->parsed()) {
        status = WebhookListCommand(ctx);
      } else if (webhook_remove->parsed()) {
        status = WebhookRemoveCommand(ctx, webhook_id);
      } else if (webhook_test->parsed()) {
        status = WebhookTestCommand(ctx, webhook_id);
      } else if (webhook_deliveries->parsed()) {
        status = WebhookDeliveriesCommand(ctx, deliveries_options);
      } else if (webhook_replay->parsed()) {
        status = WebhookReplayCommand(ctx, replay_options);
      } else if (plot->parsed()) {
        status = PlotCommand(ctx, plot_options);
      } else if (gc->parsed()) {
        EmbeddedCluster* cluster = (*handle)->cluster();
        MaintenanceTarget target{(*handle)->store(), (*handle)->conninfo(),
                                 cluster ? cluster->state().pg_bin_dir : "", format, std::cout};
        status = GcCommand(target, gc_options, ctx.now);
      } else if (runs_set_arch->parsed()) {
        status = SetRunArchCommand(ctx, run_name, arch_file);
      } else if (runs_clear_arch->parsed()) {
        status = ClearRunArchCommand(ctx, run_name);
      } else {
        status = InternalError("no command ran");
      }
    }
  }
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "transferwatch: error: " << status.message() << "\n";
  }
  return ExitCodeFor(status);
}

}  // namespace
}  // namespace tw::cli

int main(int argc, char** argv) { return tw::cli::Main(argc, argv); }
