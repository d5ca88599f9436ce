// What a checkpoint file's name says: whether the watcher looks at it at all, and its step.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tw::watch {

// Names a writer uses while a file is incomplete: dot-files, *.tmp and *.part. They are ignored
// until renamed.
bool IsTemporaryName(std::string_view name);

// The step of a checkpoint file named like epoch_012.pt or step-4000.pth: its last run of
// digits; nullopt when it has none (or the number does not fit).
std::optional<int64_t> StepFromFileName(std::string_view name);

}  // namespace tw::watch
