// SHA-256 over memory and files (OpenSSL EVP), with lowercase-hex helpers.
//
// Thread safety: a Sha256Hasher is single-threaded; the free functions are thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;  // From <openssl/evp.h>; kept out of this header.

namespace tw {

// Incremental SHA-256. Feed bytes with Update(), then call exactly one of Finish()/FinishHex();
// after that the hasher is spent and further calls are a bug (the process aborts).
class Sha256Hasher {
 public:
  Sha256Hasher();  // Aborts if OpenSSL cannot provide SHA-256: nothing useful can run then.
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  // Appends `n` bytes at `data` (may be null when n == 0).
  void Update(const void* data, size_t n);
  void Update(std::string_view data) { Update(data.data(), data.size()); }

  // The 32-byte digest.
  std::array<uint8_t, 32> Finish();
  // The digest as 64 lowercase hex characters.
  std::string FinishHex();

 private:
  EVP_MD_CTX* ctx_;
  bool finished_ = false;
};

// SHA-256 of `data` as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view data);

// Streams the file at `path` through SHA-256 in constant memory and returns the lowercase hex
// digest; on success stores the number of bytes hashed in *bytes_read when it is not null.
// Errors: NotFound (no such file), PermissionDenied, InvalidArgument (a directory), Unknown
// (any other OS error, with strerror).
StatusOr<std::string> Sha256FileHex(const std::string& path, uint64_t* bytes_read = nullptr);

// True when `s` is exactly 64 lowercase hex characters (a full digest as we print them).
bool IsSha256Hex(std::string_view s);
// True when `s` is 1..64 lowercase hex characters (an abbreviated digest a user may type).
bool IsHexPrefix(std::string_view s);

}  // namespace tw
