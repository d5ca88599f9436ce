#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace tw {
namespace {

std::mutex g_mutex;
spdlog::sink_ptr g_sink;  // GUARDED_BY(g_mutex)
spdlog::level::level_enum g_level = spdlog::level::warn;

spdlog::sink_ptr SinkLocked() {
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    // UTC with milliseconds: log lines from several hosts sort together.
    g_sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l %n: %v", spdlog::pattern_time_type::utc));
  }
  return g_sink;
}

}  // namespace

StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "warning") lower = "warn";
  static constexpr const char* kNames[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
  for (const char* name : kNames) {
    if (lower == name) return spdlog::level::from_str(lower);
  }
  return InvalidArgumentError("invalid log level \"" + std::string(text) +
                              "\": expected trace, debug, info, warn, error, critical or off");
}

void InitLogging(std::string_view program, spdlog::level::level_enum level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_level = level;
  auto sink = SinkLocked();
  spdlog::apply_all(
      [&](const std::shared_ptr<spdlog::logger>& logger) { logger->set_level(level); });
  auto main_logger = spdlog::get(std::string(program));
  if (!main_logger) {
    main_logger = std::make_shared<spdlog::logger>(std::string(program), sink);
    spdlog::register_logger(main_logger);
  }
  main_logger->set_level(level);
  spdlog::set_default_logger(main_logger);
}

std::shared_ptr<spdlog::logger> Logger(const std::string& subsystem) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (auto existing = spdlog::get(subsystem)) return existing;
  auto logger = std::make_shared<spdlog::logger>(subsystem, SinkLocked());
  logger->set_level(g_level);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace tw
