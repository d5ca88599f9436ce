// Small no-throw wrappers over POSIX file operations. Every error names the path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tw {

// Maps an errno value to a Status: ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied,
// EEXIST -> AlreadyExists, others -> Unknown. Message: "<context>: <strerror>".
Status ErrnoToStatus(int error_number, const std::string& context);

// Reads a whole regular file. Files over `max_bytes` are refused (InvalidArgument) so that a
// wrong path (a checkpoint, /dev/zero) cannot exhaust memory.
StatusOr<std::string> ReadFileToString(const std::string& path, uint64_t max_bytes);

// Writes `contents` to a temporary file beside `path`, fsyncs it and renames it over `path`, so
// readers see the old or the new file, never a torn one.
Status WriteFileAtomic(const std::string& path, const std::string& contents, mode_t mode = 0644);

// mkdir -p. Directories it creates get exactly `mode` (whatever the umask); existing ones are
// left alone.
Status MakeDirs(const std::string& path, mode_t mode = 0755);

bool PathExists(const std::string& path);

// A credential kept in a file (an API token, a webhook secret): `path` must be a regular file
// that group and other cannot access (PermissionDenied naming the mode), non-empty, at most
// `max_bytes`; one trailing newline (or CRLF) is dropped. Messages start with `what` and never
// contain the contents.
StatusOr<std::string> ReadOwnerOnlyLine(const std::string& path, const std::string& what,
                                        size_t max_bytes);

// The directories leading to an absolute path, and the path itself: "/a/b/c" -> "/a", "/a/b",
// "/a/b/c". Repeated and trailing slashes add nothing.
std::vector<std::string> PathPrefixes(const std::string& path);

// An advisory lock (flock) on a lock file, released when the object is destroyed or the
// process dies: this is what makes the lock crash-safe (SIGKILL releases it).
// The descriptor is close-on-exec so child processes (postgres!) never inherit the lock.
class FileLock {
 public:
  enum class Mode { kShared, kExclusive };

  // Creates the file when missing (mode 0666 & ~umask) and waits up to `timeout` for the lock;
  // DeadlineExceeded when it could not be had in time.
  static StatusOr<FileLock> Acquire(const std::string& path, Mode mode,
                                    std::chrono::milliseconds timeout);
  // Non-blocking: FailedPrecondition when somebody else holds a conflicting lock.
  static StatusOr<FileLock> TryAcquire(const std::string& path, Mode mode);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  void Release();
  bool held() const { return fd_ >= 0; }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tw
