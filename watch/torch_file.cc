#include "watch/torch_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/file_util.h"
#include "watch/names.h"

namespace tw::watch {

namespace {

constexpr size_t kEocdSize = 22;            // End of central directory record, no comment.
constexpr size_t kMaxCommentSize = 0xffff;  // The comment length field is 16 bits.
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EocdSize = 56;
constexpr char kEocdSignature[] = {'P', 'K', 5, 6};
constexpr char kZip64LocatorSignature[] = {'P', 'K', 6, 7};
constexpr char kZip64EocdSignature[] = {'P', 'K', 6, 6};
constexpr char kLocalHeaderSignature[] = {'P', 'K', 3, 4};

uint16_t Le16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint32_t Le32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}
uint64_t Le64(const char* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

// Reads exactly `n` bytes at `offset`, or fewer at end of file. pread keeps the descriptor's
// offset untouched, which InspectTorchFd promises its caller.
StatusOr<std::string> PreadAt(int fd, uint64_t offset, size_t n, std::string_view name) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoToStatus(errno, "cannot read \"" + EscapeName(name) + "\"");
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  out.resize(done);
  return out;
}

TorchFileCheck Verdict(TorchFileCheck check, TorchFileKind kind, std::string reason) {
  check.kind = kind;
  check.reason = std::move(reason);
  return check;
}

// What the end records of a zip declare, read by us before libzip sees the file so that the
// limits hold whatever libzip would allocate for them.
struct EndRecords {
  bool found = false;   // A consistent end record exists.
  std::string refusal;  // Set when a declared value is over a limit (kNotTorch).
};

// Checks every end-record signature in the tail. Any candidate over a limit refuses the file:
// libzip tries candidates too, and we do not want it to try one we consider hostile.
StatusOr<EndRecords> ReadEndRecords(int fd, uint64_t size, std::string_view name) {
  EndRecords result;
  if (size < kEocdSize) return result;
  const uint64_t tail_start =
      size > kEocdSize + kMaxCommentSize ? size - kEocdSize - kMaxCommentSize : 0;
  TW_ASSIGN_OR_RETURN(std::string tail, PreadAt(fd, tail_start, size - tail_start, name));
  if (tail.size() != size - tail_start) return result;  // Shrank under us: not complete now.

  std::vector<size_t> candidates;
  for (size_t i = tail.size() - kEocdSize + 1; i-- > 0;) {
    if (std::memcmp(tail.data() + i, kEocdSignature, 4) == 0) candidates.push_back(i);
  }
  if (candidates.size() > static_cast<size_t>(kMaxEndRecordCandidates)) {
    result.refusal = std::to_string(candidates.size()) +
                     " end-of-central-directory signatures in the last 64 KiB (limit " +
                     std::to_string(kMaxEndRecordCandidates) + ")";
    return result;
  }
  for (size_t pos : candidates) {
    const char* eocd = tail.data() + pos;
    const uint64_t eocd_offset = tail_start + pos;
    uint64_t entries = Le16(eocd + 10);
    uint64_t cd_size = Le32(eocd + 12);
    uint64_t cd_offset = Le32(eocd + 16);
    const uint64_t comment_length = Le16(eocd + 20);
    const bool zip64 = entries == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu;
    if (zip64 && eocd_offset >= kZip64LocatorSize) {
      TW_ASSIGN_OR_RETURN(std::string locator,
                          PreadAt(fd, eocd_offset - kZip64LocatorSize, kZip64LocatorSize, name));
      if (locator.size() == kZip64LocatorSize &&
          std::memcmp(locator.data(), kZip64LocatorSignature, 4) == 0) {
        const uint64_t zip64_offset = Le64(locator.data() + 8);
        if (zip64_offset < size) {
          TW_ASSIGN_OR_RETURN(std::string record, PreadAt(fd, zip64_offset, kZip64EocdSize, name));
          if (record.size() == kZip64EocdSize &&
              std::memcmp(record.data(), kZip64EocdSignature, 4) == 0) {
            entries = Le64(record.data() + 32);
            cd_size = Le64(record.data() + 40);
            cd_offset = Le64(record.data() + 48);
          }
        }
      }
    }
    if (entries > kMaxZipEntries) {
      result.refusal = "the zip declares " + std::to_string(entries) + " entries (limit " +
                       std::to_string(kMaxZipEntries) + ")";
      return result;
    }
    if (cd_size > kMaxCentralDirectoryBytes) {
      result.refusal = "the zip declares a central directory of " + std::to_string(cd_size) +
                       " bytes (limit " + std::to_string(kMaxCentralDirectoryBytes) + ")";
      return result;
    }
    // Consistent: the comment runs exactly to the end of the file and the directory lies
    // before the record. libzip checks the details again.
    if (eocd_offset + kEocdSize + comment_length == size && cd_offset <= eocd_offset &&
        cd_size <= eocd_offset - cd_offset) {
      result.found = true;
    }
  }
  return result;
}

// A libzip source reading the caller's descriptor with pread, so that the descriptor's offset
// stays untouched and the size is the one fstat saw (a file still growing is judged as it was).
struct PreadSource {
  int fd = -1;
  uint64_t size = 0;
  uint64_t offset = 0;
  zip_error_t error{};
};

zip_int64_t PreadSourceCallback(void* userdata, void* data, zip_uint64_t length,
                                zip_source_cmd_t command) {
  auto* source = static_cast<PreadSource*>(userdata);
  switch (command) {
    case ZIP_SOURCE_OPEN:
      source->offset = 0;
      return 0;
    case ZIP_SOURCE_READ: {
      const uint64_t left = source->offset < source->size ? source->size - source->offset : 0;
      const uint64_t want = std::min<uint64_t>(length, left);
      uint64_t done = 0;
      while (done < want) {
        ssize_t got = ::pread(source->fd, static_cast<char*>(data) + done, want - done,
                              static_cast<off_t>(source->offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
          zip_error_set(&source->error, ZIP_ER_READ, errno);
          return -1;
        }
        if (got == 0) break;
        done += static_cast<uint64_t>(got);
      }
      source->offset += done;
      return static_cast<zip_int64_t>(done);
    }
    case ZIP_SOURCE_CLOSE:
    case ZIP_SOURCE_FREE:
      return 0;
    case ZIP_SOURCE_STAT: {
      auto* st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, length, &source->error);
      if (st == nullptr) return -1;
      zip_stat_init(st);
      st->size = source->size;
      st->comp_size = source->size;
      st->comp_method = ZIP_CM_STORE;
      st->encryption_method = ZIP_EM_NONE;
      st->valid =
          ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
      return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
      return zip_error_to_data(&source->error, data, length);
    case ZIP_SOURCE_SEEK: {
      zip_int64_t offset = zip_source_seek_compute_offset(source->offset, source->size, data,
                                                          length, &source->error);
      if (offset < 0) return -1;
      source->offset = static_cast<uint64_t>(offset);
      return 0;
    }
    case ZIP_SOURCE_TELL:
      return static_cast<zip_int64_t>(source->offset);
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(
          ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR,
          ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_SUPPORTS, -1);
    default:
      zip_error_set(&source->error, ZIP_ER_OPNOTSUPP, 0);
      return -1;
  }
}

// Opens the archive with libzip (ZIP_CHECKCONS) and classifies it by its entry names.
StatusOr<TorchFileCheck> InspectZip(int fd, TorchFileCheck check, std::string_view name) {
  PreadSource state;
  state.fd = fd;
  state.size = check.size;
  zip_error_init(&state.error);
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_function_create(PreadSourceCallback, &state, &error);
  if (source == nullptr) {
    std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    zip_error_fini(&state.error);
    return UnknownError("libzip: cannot create a source for \"" + EscapeName(name) +
                        "\": " + message);
  }
  zip_t* archive = zip_open_from_source(source, ZIP_CHECKCONS | ZIP_RDONLY, &error);
  if (archive == nullptr) {
    const int code = zip_error_code_zip(&error);
    std::string message = zip_error_strerror(&error);
    zip_source_free(source);
    zip_error_fini(&error);
    zip_error_fini(&state.error);
    switch (code) {
      case ZIP_ER_NOZIP:
      case ZIP_ER_INCONS:
      case ZIP_ER_EOF:
      // libzip's own verdict on end records that point past the end of the file (EFBIG): our
      // source never fails a seek for other reasons (found by fuzz/torch_file_fuzzer.cc).
      case ZIP_ER_SEEK:
        return Verdict(
            std::move(check), TorchFileKind::kIncompleteZip,
            "zip end records inconsistent (still being written, or truncated): " + message);
      case ZIP_ER_READ:
      case ZIP_ER_TELL:
      case ZIP_ER_MEMORY:
      case ZIP_ER_INTERNAL:
      case ZIP_ER_OPEN:
        return UnknownError("libzip cannot read \"" + EscapeName(name) + "\": " + message);
      default:
        return Verdict(std::move(check), TorchFileKind::kNotTorch,
                       "zip archive refused by libzip: " + message);
    }
  }
  zip_error_fini(&error);

  const zip_int64_t count = zip_get_num_entries(archive, 0);
  std::string prefix;
  bool has_data_pkl = false;
  bool has_code = false;
  bool has_constants = false;
  bool one_prefix = true;
  // Declared sizes are checked against kMaxInflatedBytes and the file's size (torch_file.h).
  std::string refusal;
  uint64_t inflated = 0;  // declared sizes of the compressed entries so far
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* raw = zip_get_name(archive, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (raw == nullptr) continue;
    std::string_view entry(raw);
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (refusal.empty() && zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &stat) == 0 &&
        (stat.valid & ZIP_STAT_SIZE) && (stat.valid & ZIP_STAT_COMP_METHOD)) {
      if (stat.comp_method == ZIP_CM_STORE && stat.size > check.size) {
        refusal = "entry '" + EscapeName(entry) + "' declares " + std::to_string(stat.size) +
                  " bytes, more than the file's " + std::to_string(check.size);
      } else if (stat.comp_method != ZIP_CM_STORE) {
        inflated = stat.size > kMaxInflatedBytes ? kMaxInflatedBytes + 1 : inflated + stat.size;
        if (inflated > kMaxInflatedBytes) {
          refusal = "its compressed entries declare more than " +
                    std::to_string(kMaxInflatedBytes >> 20) + " MiB (at '" + EscapeName(entry) +
                    "', " + std::to_string(stat.size) +
                    " bytes): torch stores tensor data uncompressed; this is a zip bomb";
        }
      }
    }
    const size_t slash = entry.find('/');
    if (slash == std::string_view::npos) {
      one_prefix = false;
      continue;
    }
    std::string_view first = entry.substr(0, slash);
    std::string_view rest = entry.substr(slash + 1);
    if (i == 0) prefix = std::string(first);
    if (first != prefix) {
      one_prefix = false;
      continue;
    }
    if (rest == "data.pkl") has_data_pkl = true;
    if (rest == "constants.pkl") has_constants = true;
    if (rest.substr(0, 5) == "code/") has_code = true;
  }
  zip_discard(archive);  // Frees the source as well.
  zip_error_fini(&state.error);
  if (!refusal.empty()) {
    return Verdict(std::move(check), TorchFileKind::kNotTorch, "zip archive refused: " + refusal);
  }

  check.zip_entries = static_cast<uint64_t>(std::max<zip_int64_t>(count, 0));
  const std::string entries = std::to_string(check.zip_entries) + " entries";
  if (count <= 0 || prefix.empty()) {
    return Verdict(std::move(check), TorchFileKind::kNotTorch,
                   "zip archive without a top-level folder (" + entries + "): not a torch file");
  }
  const std::string shown_prefix = EscapeName(prefix);
  if (!one_prefix) {
    check.zip_entries = 0;
    return Verdict(std::move(check), TorchFileKind::kNotTorch,
                   "zip archive with entries outside '" + shown_prefix + "/': not a torch file");
  }
  check.archive_prefix = prefix;
  if (has_code && has_constants) {
    return Verdict(std::move(check), TorchFileKind::kTorchScript,
                   "TorchScript archive '" + shown_prefix + "': " + entries);
  }
  if (has_data_pkl && !has_code) {
    return Verdict(std::move(check), TorchFileKind::kStateDictZip,
                   "torch.save archive '" + shown_prefix + "': " + entries);
  }
  check.archive_prefix.clear();
  check.zip_entries = 0;
  return Verdict(std::move(check), TorchFileKind::kNotTorch,
                 "zip archive '" + shown_prefix + "' has neither code/ with constants.pkl nor " +
                     "data.pkl: not a torch file");
}

// torch.save's legacy format begins with pickle.dump(MAGIC_NUMBER, protocol=p): PROTO p, for
// p >= 4 a FRAME, then LONG1 of 10 bytes holding 0x1950a86a20f9469cfc6c, then STOP.
bool HasLegacyMagic(std::string_view head) {
  static constexpr unsigned char kMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                             0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  if (head.size() < 2 || static_cast<unsigned char>(head[0]) != 0x80) return false;
  size_t pos = 2;
  if (head.size() > pos && static_cast<unsigned char>(head[pos]) == 0x95) pos += 9;  // FRAME
  if (head.size() < pos + sizeof(kMagic)) return false;
  return std::memcmp(head.data() + pos, kMagic, sizeof(kMagic)) == 0;
}

}  // namespace

std::string_view TorchFileKindName(TorchFileKind kind) {
  switch (kind) {
    case TorchFileKind::kEmpty:
      return "empty";
    case TorchFileKind::kIncompleteZip:
      return "incomplete_zip";
    case TorchFileKind::kTorchScript:
      return "torchscript";
    case TorchFileKind::kStateDictZip:
      return "state_dict_zip";
    case TorchFileKind::kLegacyPickle:
      return "legacy_pickle";
    case TorchFileKind::kNotTorch:
      return "not_torch";
  }
  return "not_torch";
}

StatusOr<TorchFileCheck> InspectTorchFile(const std::string& path) {
  // O_NONBLOCK: a FIFO must not block the open; it is refused below as not a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoToStatus(errno, "cannot open \"" + EscapeName(path) + "\"");
  StatusOr<TorchFileCheck> result = InspectTorchFd(fd, path);
  ::close(fd);
  return result;
}

StatusOr<TorchFileCheck> InspectTorchFd(int fd, std::string_view display_name) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return ErrnoToStatus(errno, "cannot stat \"" + EscapeName(display_name) + "\"");
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgumentError("\"" + EscapeName(display_name) + "\" is not a regular file");
  }
  TorchFileCheck check;
  check.size = static_cast<uint64_t>(st.st_size);
  check.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (check.size == 0) return Verdict(std::move(check), TorchFileKind::kEmpty, "empty file");

  TW_ASSIGN_OR_RETURN(std::string head, PreadAt(fd, 0, 64, display_name));
  const bool zip_start =
      head.size() >= 4 && (std::memcmp(head.data(), kLocalHeaderSignature, 4) == 0 ||
                           std::memcmp(head.data(), kEocdSignature, 4) == 0);
  if (!zip_start && head.size() < 4 &&
      std::string_view(kLocalHeaderSignature, 4).substr(0, head.size()) == head) {
    // The first bytes of a zip still being written.
    return Verdict(std::move(check), TorchFileKind::kIncompleteZip,
                   "only " + std::to_string(head.size()) + " bytes of a zip header");
  }
  if (zip_start) {
    TW_ASSIGN_OR_RETURN(EndRecords end, ReadEndRecords(fd, check.size, display_name));
    if (!end.refusal.empty()) {
      return Verdict(std::move(check), TorchFileKind::kNotTorch, std::move(end.refusal));
    }
    if (!end.found) {
      return Verdict(std::move(check), TorchFileKind::kIncompleteZip,
                     "no end-of-central-directory record (still being written, or truncated)");
    }
    return InspectZip(fd, std::move(check), display_name);
  }
  if (static_cast<unsigned char>(head[0]) == 0x80) {
    if (HasLegacyMagic(head)) {
      return Verdict(std::move(check), TorchFileKind::kLegacyPickle,
                     "legacy torch.save pickle stream");
    }
    return Verdict(std::move(check), TorchFileKind::kNotTorch,
                   "a pickle stream without torch.save's magic number: not a torch file");
  }
  return Verdict(std::move(check), TorchFileKind::kNotTorch,
                 "neither a zip archive nor a torch.save pickle: not a torch file");
}

std::optional<std::string> CheckpointFormatName(TorchFileKind kind) {
  switch (kind) {
    case TorchFileKind::kTorchScript:
      return "torchscript";
    case TorchFileKind::kStateDictZip:
      return "state_dict";
    case TorchFileKind::kLegacyPickle:
      return "legacy";
    default:
      return std::nullopt;
  }
}

}  // namespace tw::watch
