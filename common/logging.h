// Logging set-up: one spdlog logger per subsystem, writing to stderr.
//
// Library code (common/, store/, analysis/) returns Status and logs at debug level only; the
// caller that handles an error logs it once. Programs call InitLogging once in main.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tw {

// Parses "trace|debug|info|warn|error|critical|off" (case-insensitive).
StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view text);

// Sets up the default stderr sink for `program` at `level`. Safe to call again (SIGHUP reload
// changes the level). Lines look like: 2026-12-04T10:00:00.123Z info store: message
void InitLogging(std::string_view program, spdlog::level::level_enum level);

// The logger for one subsystem ("store", "embedded", "import", ...), created on first use and
// sharing the sinks set by InitLogging. Never null.
std::shared_ptr<spdlog::logger> Logger(const std::string& subsystem);

}  // namespace tw
