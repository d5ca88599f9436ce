#include "store/checkpoint_name.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "common/numbers.h"

namespace tw {
namespace {

constexpr size_t kMaxNameLength = 1024;
constexpr size_t kMinHashPrefix = 8;

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string JoinSizes(const std::vector<int>& sizes) {
  std::string out;
  for (int s : sizes) {
    if (!out.empty()) out += ", ";
    out += std::to_string(s);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

StatusOr<std::vector<CheckpointSelector>> ParseCheckpointName(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("empty checkpoint name");
  if (text.size() > kMaxNameLength) {
    return InvalidArgumentError("checkpoint name longer than " + std::to_string(kMaxNameLength) +
                                " characters");
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgumentError("checkpoint name contains a control character");
    }
  }
  std::vector<CheckpointSelector> selectors;
  auto slash = text.find('/');
  if (slash != std::string_view::npos) {
    CheckpointSelector s;
    s.run = std::string(text.substr(0, slash));
    s.file = std::string(text.substr(slash + 1));
    if (s.run->empty() || s.file->empty()) {
      return InvalidArgumentError("invalid checkpoint name \"" + std::string(text) +
                                  "\": expected RUN/FILE with both parts non-empty");
    }
    selectors.push_back(std::move(s));
    return selectors;
  }
  if (text.size() >= kMinHashPrefix && text.size() <= 64 && IsHex(text)) {
    CheckpointSelector s;
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    s.sha256_prefix = lower;  // hashes are stored in lowercase; users paste either
    selectors.push_back(std::move(s));
  }
  CheckpointSelector model;
  auto at = text.rfind('@');
  if (at != std::string_view::npos) {
    auto size = ParseInt(text.substr(at + 1));
    if (!size.ok() || *size <= 0 || *size > 100000 || at == 0) {
      return InvalidArgumentError("invalid checkpoint name \"" + std::string(text) +
                                  "\": expected MODEL@IMG_SIZE with a positive image size");
    }
    model.model = std::string(text.substr(0, at));
    model.img_size = *size;
  } else {
    model.model = std::string(text);
  }
  selectors.push_back(std::move(model));
  return selectors;
}

StatusOr<ResolvedCheckpoint> ResolveCheckpoint(Store& store, std::string_view text) {
  TW_ASSIGN_OR_RETURN(auto selectors, ParseCheckpointName(text));
  for (const auto& selector : selectors) {
    TW_ASSIGN_OR_RETURN(auto candidates, store.FindCheckpoints(selector));
    if (candidates.empty()) continue;
    if (candidates.size() > 1) {
      std::string names;
      for (size_t i = 0; i < candidates.size() && i < 5; ++i) {
        names += (i ? ", " : "") + candidates[i].display_name +
                 (candidates[i].sha256 ? " (" + candidates[i].sha256->substr(0, 12) + ")" : "");
      }
      if (candidates.size() > 5) names += ", ...";
      return InvalidArgumentError("checkpoint name \"" + std::string(text) +
                                  "\" is ambiguous: " + std::to_string(candidates.size()) +
                                  " checkpoints match (" + names + "); give more of the hash");
    }
    ResolvedCheckpoint resolved{candidates.front(), selector.img_size};
    if (selector.img_size) {
      const auto& sizes = resolved.checkpoint.img_sizes;
      if (std::find(sizes.begin(), sizes.end(), *selector.img_size) == sizes.end()) {
        return NotFoundError(
            resolved.checkpoint.display_name + " has no evaluation at image size " +
            std::to_string(*selector.img_size) + " (sizes: " + JoinSizes(sizes) + ")");
      }
    }
    return resolved;
  }
  return NotFoundError("no checkpoint named \"" + std::string(text) +
                       "\" (name one by a SHA-256 prefix of at least 8 hex digits, RUN/FILE, or "
                       "an imported MODEL[@IMG_SIZE])");
}

}  // namespace tw
