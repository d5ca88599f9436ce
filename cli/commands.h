// The CLI's commands over a Store. Each prints to `out` in the requested format and returns a
// Status; main maps it to the exit code (exit_codes.h).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/output.h"
#include "common/status.h"
#include "reports/transfer_report.h"
#include "store/model.h"
#include "store/store.h"

namespace tw::cli {

struct CommandContext {
  Store& store;
  OutputFormat format;
  std::ostream& out;
  TimePoint now;  // injected: --since is relative to it
};

struct ImportTimmOptions {
  std::string dir;
  bool update = false;
};
Status ImportTimm(CommandContext& ctx, const ImportTimmOptions& options);

Status ListDatasets(CommandContext& ctx);

struct ListCheckpointsOptions {
  std::optional<std::string> glob;
  std::optional<std::string> run_glob;
  std::optional<int64_t> limit;
  bool imported_only = false;  // `models list`
};
Status ListCheckpoints(CommandContext& ctx, const ListCheckpointsOptions& options);

struct ResultsOptions {
  std::optional<std::string> model_glob;
  std::vector<std::string> datasets;
  std::optional<std::string> run_glob;
  std::optional<std::string> since;  // ISO-8601 UTC or a duration ago ("12h", "7d")
  std::string sort;                  // metric name; "" = newest first
  bool reverse = false;              // worst first
  std::optional<int64_t> limit;
};
Status Results(CommandContext& ctx, const ResultsOptions& options);

struct CompareOptions {
  std::string a;
  std::string b;
  std::vector<std::string> datasets;
};
Status Compare(CommandContext& ctx, const CompareOptions& options);

struct ReportCommandOptions {
  TransferReportOptions report;
  bool residuals = false;  // table/CSV: print every entry's effective robustness
};
Status Report(CommandContext& ctx, const ReportCommandOptions& options);

}  // namespace tw::cli
