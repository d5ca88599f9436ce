#include "watch/sidecar.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/canonical_json.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "watch/names.h"

namespace tw::watch {

namespace {

using nlohmann::json;

constexpr std::string_view kAllowedKeys = "step, epoch, hparams, git_commit";

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// A short rendering of a bad value for a message; bounded so a huge value cannot flood a log.
std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

StatusOr<Sidecar> ParseSidecarJson(const json& doc, std::string_view bytes,
                                   const std::string& name) {
  if (!doc.is_object()) {
    return InvalidArgumentError(name + ": a sidecar must be a JSON object, got " +
                                std::string(doc.type_name()));
  }
  Sidecar sidecar;
  json canonical = json::object();
  for (const auto& [key, value] : doc.items()) {
    const std::string field = name + ": '" + key + "'";
    if (key == "step") {
      if (value.is_number_unsigned() &&
          value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return InvalidArgumentError(field + " is too large: " + Shown(value));
      }
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        return InvalidArgumentError(field + " must be an integer >= 0, got " + Shown(value));
      }
      sidecar.step = value.get<int64_t>();
      canonical[key] = *sidecar.step;
    } else if (key == "epoch") {
      if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0) {
        return InvalidArgumentError(field + " must be a number >= 0, got " + Shown(value));
      }
      sidecar.epoch = value.get<double>();
      canonical[key] = value;
    } else if (key == "hparams") {
      if (!value.is_object()) {
        return InvalidArgumentError(field + " must be an object, got " + Shown(value));
      }
      StatusOr<std::string> text = CanonicalJson(value);
      if (!text.ok()) return InvalidArgumentError(field + ": " + text.status().message());
      sidecar.hparams_json = *std::move(text);
      canonical[key] = value;
    } else if (key == "git_commit") {
      if (!value.is_string() || value.get_ref<const std::string&>().size() < 7 ||
          value.get_ref<const std::string&>().size() > 64 ||
          !IsHex(value.get_ref<const std::string&>())) {
        return InvalidArgumentError(field + " must be 7 to 64 hex digits, got " + Shown(value));
      }
      sidecar.git_commit = Lower(value.get<std::string>());
      canonical[key] = *sidecar.git_commit;
    } else {
      return InvalidArgumentError(name + ": unknown key '" + EscapeName(key) +
                                  "' (allowed: " + std::string(kAllowedKeys) + ")");
    }
  }
  TW_ASSIGN_OR_RETURN(sidecar.canonical_json, CanonicalJson(canonical));
  sidecar.sha256 = Sha256Hex(bytes);
  return sidecar;
}

}  // namespace

StatusOr<Sidecar> ParseSidecar(std::string_view bytes, std::string_view display_name) {
  const std::string name = EscapeName(display_name);
  if (bytes.size() > kMaxSidecarBytes) {
    return InvalidArgumentError(name + ": sidecar too large (" + std::to_string(bytes.size()) +
                                " bytes, the limit is " + std::to_string(kMaxSidecarBytes) + ")");
  }
  TW_ASSIGN_OR_RETURN(json doc, ParseJson(bytes, name));
  try {
    return ParseSidecarJson(doc, bytes, name);
  } catch (const json::exception& e) {
    // The checks above make this unreachable; a library surprise must not escape as a throw.
    return InvalidArgumentError(name + ": " + e.what());
  }
}

std::string SidecarPathFor(const std::string& checkpoint_path) {
  const size_t slash = checkpoint_path.rfind('/');
  const size_t name_start = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = checkpoint_path.rfind('.');
  // A leading dot (".pt") is part of the name, not an extension.
  if (dot == std::string::npos || dot <= name_start) return checkpoint_path + ".json";
  return checkpoint_path.substr(0, dot) + ".json";
}

StatusOr<std::optional<Sidecar>> ReadSidecarFor(const std::string& checkpoint_path) {
  const std::string path = SidecarPathFor(checkpoint_path);
  const std::string shown = EscapeName(path);
  // O_NONBLOCK: a FIFO must not block the open; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return std::optional<Sidecar>();
    if (err == ELOOP) return InvalidArgumentError(shown + ": a sidecar must not be a symlink");
    return ErrnoToStatus(err, "cannot open sidecar " + shown);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "cannot stat sidecar " + shown);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(shown + ": sidecar is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxSidecarBytes) {
    ::close(fd);
    return InvalidArgumentError(shown + ": sidecar too large (" + std::to_string(st.st_size) +
                                " bytes, the limit is " + std::to_string(kMaxSidecarBytes) + ")");
  }
  std::string bytes;
  char buffer[16384];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "cannot read sidecar " + shown);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
    if (bytes.size() > kMaxSidecarBytes) break;  // Grew while read; ParseSidecar refuses it.
  }
  ::close(fd);
  const size_t slash = path.rfind('/');
  TW_ASSIGN_OR_RETURN(
      Sidecar sidecar,
      ParseSidecar(bytes, slash == std::string::npos ? path : path.substr(slash + 1)));
  return std::optional<Sidecar>(std::move(sidecar));
}

}  // namespace tw::watch
