// What a checkpoint file's name says: whether the watcher looks at it at all, and its step; and
// how a name from the filesystem is written into a log line.
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

// `name` made safe for a log line or a message: valid UTF-8 is kept except control characters
// (C0, DEL, C1: a name must not move the cursor or colour the terminal, F7), which are written
// as \n, \t, \r or \xNN, as are bytes that are not UTF-8; a backslash and a double quote get a
// backslash. Callers put the result between double quotes.
std::string EscapeName(std::string_view name);

}  // namespace tw::watch
