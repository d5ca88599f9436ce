#include "common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <system_error>

namespace tw {
namespace {

// Large enough that syscall overhead is negligible next to hashing, small enough to stay in L2.
constexpr size_t kFileBufferSize = size_t{1} << 20;
constexpr char kHexDigits[] = "0123456789abcdef";

// OpenSSL failing on an in-memory SHA-256 means the library is broken or out of memory; there
// is no sensible recovery and callers should not have to handle it, so we stop loudly.
[[noreturn]] void DieOpenSsl(const char* what) {
  std::fprintf(stderr, "FATAL: OpenSSL %s failed for SHA-256\n", what);
  std::abort();
}

[[noreturn]] void DieMisuse(const char* what) {
  std::fprintf(stderr, "FATAL: Sha256Hasher misuse: %s\n", what);
  std::abort();
}

std::string ErrnoMessage(int err) { return std::generic_category().message(err); }

// Closes the descriptor on every return path.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

Status FileError(int err, const std::string& path, std::string_view action) {
  std::string detail = std::string(action) + " '" + path + "': " + ErrnoMessage(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:  // A path component is not a directory: the file named does not exist.
      return NotFoundError(detail);
    case EACCES:
    case EPERM:
      return PermissionDeniedError(detail);
    case EISDIR:
      return InvalidArgumentError("cannot hash '" + path + "': it is a directory");
    default:
      return UnknownError(detail);
  }
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool AllLowerHex(std::string_view s) {
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

}  // namespace

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) DieOpenSsl("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) DieOpenSsl("EVP_DigestInit_ex");
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(ctx_); }

void Sha256Hasher::Update(const void* data, size_t n) {
  if (finished_) DieMisuse("Update after Finish");
  if (n == 0) return;  // data may be null then, which EVP does not promise to accept.
  if (EVP_DigestUpdate(ctx_, data, n) != 1) DieOpenSsl("EVP_DigestUpdate");
}

std::array<uint8_t, 32> Sha256Hasher::Finish() {
  if (finished_) DieMisuse("Finish called twice");
  finished_ = true;
  std::array<uint8_t, 32> digest{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &len) != 1 || len != digest.size()) {
    DieOpenSsl("EVP_DigestFinal_ex");
  }
  return digest;
}

std::string Sha256Hasher::FinishHex() {
  const std::array<uint8_t, 32> digest = Finish();
  std::string hex(digest.size() * 2, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHexDigits[digest[i] >> 4];
    hex[2 * i + 1] = kHexDigits[digest[i] & 0xf];
  }
  return hex;
}

std::string Sha256Hex(std::string_view data) {
  Sha256Hasher hasher;
  hasher.Update(data);
  return hasher.FinishHex();
}

StatusOr<std::string> Sha256FileHex(const std::string& path, uint64_t* bytes_read) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return FileError(errno, path, "cannot open");
  FdCloser closer(fd);

  // open() succeeds on a directory; catch it here so the error says so instead of EISDIR noise.
  struct stat st;
  if (::fstat(fd, &st) != 0) return FileError(errno, path, "cannot stat");
  if (S_ISDIR(st.st_mode)) return FileError(EISDIR, path, "cannot hash");

  // Purely a hint (doubles kernel readahead); failure changes nothing but speed.
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  // Heap-allocated once: 1 MiB is too big for some thread stacks.
  std::unique_ptr<unsigned char[]> buffer(new unsigned char[kFileBufferSize]);
  Sha256Hasher hasher;
  uint64_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer.get(), kFileBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, path, "cannot read");
    }
    if (n == 0) break;
    hasher.Update(buffer.get(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (bytes_read != nullptr) *bytes_read = total;
  return hasher.FinishHex();
}

bool IsSha256Hex(std::string_view s) { return s.size() == 64 && AllLowerHex(s); }

bool IsHexPrefix(std::string_view s) { return !s.empty() && s.size() <= 64 && AllLowerHex(s); }

}  // namespace tw
