#include "api/sessions.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cctype>

#include "common/sha256.h"

namespace tw::api {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr std::string_view kMacContext = "tw_session/v1/";
// Clocks get stepped (NTP); a cookie "issued" a little in the future is still ours.
constexpr int64_t kFutureSlackSeconds = 60;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int64_t UnixSeconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

bool TokenMatchesDigest(std::string_view presented, const std::string& token_digest) {
  const std::string digest = Sha256Hex(presented);
  return digest.size() == token_digest.size() &&
         CRYPTO_memcmp(digest.data(), token_digest.data(), digest.size()) == 0;
}

BrowserSessions::BrowserSessions(std::string token_digest, std::string key,
                                 std::chrono::seconds max_age)
    : token_digest_(std::move(token_digest)), key_(std::move(key)), max_age_(max_age) {}

StatusOr<std::unique_ptr<BrowserSessions>> BrowserSessions::Create(std::string_view token,
                                                                   std::chrono::seconds max_age) {
  if (token.empty()) return InvalidArgumentError("api token is empty");
  if (max_age.count() <= 0) return InvalidArgumentError("session max age must be positive");
  std::string key(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return UnavailableError("cannot make a session key: RAND_bytes failed");
  }
  return std::unique_ptr<BrowserSessions>(
      new BrowserSessions(Sha256Hex(token), std::move(key), max_age));
}

bool BrowserSessions::TokenMatches(std::string_view presented) const {
  return TokenMatchesDigest(presented, token_digest_);
}

std::string BrowserSessions::Mac(std::string_view issued) const {
  std::string message(kMacContext);
  message.append(issued);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &mac_len) == nullptr) {
    return "";  // never equal to a presented MAC: Valid() refuses
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(mac_len * 2);
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex += kHex[mac[i] >> 4];
    hex += kHex[mac[i] & 15];
  }
  return hex;
}

std::string BrowserSessions::Mint(WallTime now) const {
  const std::string issued = std::to_string(UnixSeconds(now));
  return issued + "." + Mac(issued);
}

bool BrowserSessions::Valid(std::string_view value, WallTime now) const {
  const size_t dot = value.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 18) return false;
  const std::string_view issued = value.substr(0, dot);
  int64_t issued_at = 0;
  for (char c : issued) {
    if (c < '0' || c > '9') return false;
    issued_at = issued_at * 10 + (c - '0');
  }
  const std::string expected = Mac(issued);
  const std::string_view mac = value.substr(dot + 1);
  if (expected.empty() || mac.size() != expected.size() ||
      CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
    return false;
  }
  const int64_t age = UnixSeconds(now) - issued_at;
  return age >= -kFutureSlackSeconds && age <= max_age_.count();
}

std::string BrowserSessions::SetCookieHeader(WallTime now) const {
  return std::string(kSessionCookieName) + "=" + Mint(now) +
         "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" + std::to_string(max_age_.count());
}

std::optional<std::string> BrowserSessions::FindCookie(std::string_view cookie_header) {
  size_t start = 0;
  while (start <= cookie_header.size()) {
    size_t end = cookie_header.find_first_of(";,", start);
    if (end == std::string_view::npos) end = cookie_header.size();
    const std::string_view pair = Trim(cookie_header.substr(start, end - start));
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == kSessionCookieName) {
      std::string_view value = Trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace tw::api
