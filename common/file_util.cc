#include "common/file_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace tw {

Status ErrnoToStatus(int error_number, const std::string& context) {
  std::string message = context + ": " + std::strerror(error_number);
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return NotFoundError(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(std::move(message));
    case EEXIST:
      return AlreadyExistsError(std::move(message));
    default:
      return UnknownError(std::move(message));
  }
}

StatusOr<std::string> ReadFileToString(const std::string& path, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoToStatus(errno, "cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoToStatus(err, "cannot stat " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(path + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return InvalidArgumentError(path + " is too large (" + std::to_string(st.st_size) +
                                " bytes, the limit is " + std::to_string(max_bytes) + ")");
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "cannot read " + path);
    }
    if (n == 0) break;  // The file shrank while we read it; return what is there.
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  ::close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, const std::string& contents, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoToStatus(errno, "cannot create " + tmp);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoToStatus(err, "cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoToStatus(err, "cannot flush " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoToStatus(err, "cannot rename " + tmp + " to " + path);
  }
  return OkStatus();
}

std::vector<std::string> PathPrefixes(const std::string& path) {
  std::vector<std::string> prefixes;
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    std::string prefix = path.substr(0, pos);
    if (!prefix.empty() && prefix.back() != '/' &&
        (prefixes.empty() || prefixes.back() != prefix)) {
      prefixes.push_back(prefix);
    }
    if (pos == std::string::npos) break;
  }
  return prefixes;
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return InvalidArgumentError("empty directory path");
  for (const auto& partial : PathPrefixes(path)) {
    if (::mkdir(partial.c_str(), mode) == 0) {
      // The umask must not narrow what we meant (077 would lock other users out).
      if (::chmod(partial.c_str(), mode) != 0) {
        return ErrnoToStatus(errno, "cannot set the mode of " + partial);
      }
    } else if (errno != EEXIST) {
      return ErrnoToStatus(errno, "cannot create directory " + partial);
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot stat " + path);
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(path + " exists and is not a directory");
  return OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

namespace {
StatusOr<int> OpenLockFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0 && (errno == EACCES || errno == EROFS)) {
    // A shared lock only needs a readable descriptor (a lock file created by another user).
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return ErrnoToStatus(errno, "cannot open lock file " + path);
  return fd;
}
int FlockOperation(FileLock::Mode mode) {
  return mode == FileLock::Mode::kShared ? LOCK_SH : LOCK_EX;
}
}  // namespace

StatusOr<FileLock> FileLock::TryAcquire(const std::string& path, Mode mode) {
  TW_ASSIGN_OR_RETURN(int fd, OpenLockFile(path));
  while (::flock(fd, FlockOperation(mode) | LOCK_NB) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK) return FailedPreconditionError(path + " is locked by another process");
    return ErrnoToStatus(err, "cannot lock " + path);
  }
  return FileLock(fd);
}

StatusOr<FileLock> FileLock::Acquire(const std::string& path, Mode mode,
                                     std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(2);
  while (true) {
    auto lock = TryAcquire(path, mode);
    if (lock.ok() || lock.status().code() != StatusCode::kFailedPrecondition) return lock;
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError("timed out after " + std::to_string(timeout.count()) +
                                   " ms waiting for the lock " + path);
    }
    // flock has no timed wait; poll with a short, growing pause (contention is brief: the lock
    // is held only while a cluster starts or stops).
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    Release();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() { Release(); }

void FileLock::Release() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
    fd_ = -1;
  }
}

StatusOr<std::string> ReadOwnerOnlyLine(const std::string& path, const std::string& what,
                                        size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    const std::string message = what + ": " + std::strerror(err);
    if (err == ENOENT) return NotFoundError(message);
    if (err == EACCES || err == EPERM) return PermissionDeniedError(message);
    return UnknownError(message);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return UnknownError(what + ": fstat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(what + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDeniedError(what + " has mode " + mode +
                                 ": group and other must have no access (chmod 600)");
  }
  std::string line;
  char buf[1024];
  while (line.size() <= max_bytes + 2) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnknownError(what + ": read: " + std::strerror(errno));
    }
    if (n == 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  if (!line.empty() && line.back() == '\n') {
    line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
  }
  if (line.empty()) return InvalidArgumentError(what + " is empty");
  if (line.size() > max_bytes) {
    return InvalidArgumentError(what + " is longer than " + std::to_string(max_bytes) + " bytes");
  }
  return line;
}

}  // namespace tw
