// `transferwatch flags [ack ID]` and `transferwatch baseline pin|unpin|list`: the transfer
// checks' flags (reports/transfer_checks.h) and the checkpoints every new one is compared with.
#pragma once

#include <optional>
#include <string>

#include "cli/commands.h"

namespace tw::cli {

struct FlagsOptions {
  std::optional<std::string> run_glob;
  std::optional<std::string> kind;   // regression | no-transfer
  std::optional<std::string> since;  // ISO-8601 UTC or a duration ago
  bool unacknowledged = false;
  std::optional<int64_t> limit;
};
Status FlagsCommand(CommandContext& ctx, const FlagsOptions& options);
Status AcknowledgeFlagCommand(CommandContext& ctx, int64_t id);

Status PinBaselineCommand(CommandContext& ctx, const std::string& checkpoint,
                          const std::optional<std::string>& note);
Status UnpinBaselineCommand(CommandContext& ctx, const std::string& checkpoint);
Status ListBaselinesCommand(CommandContext& ctx);

}  // namespace tw::cli
