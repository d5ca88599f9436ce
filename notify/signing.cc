#include "notify/signing.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tw::notify {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr size_t kMinKeyBytes = 24;
constexpr size_t kMaxKeyBytes = 64;

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Standard (padded) base64 only; nullopt for anything else.
std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  for (size_t i = 0; i < text.size() - pad; ++i) {
    if (!IsBase64Char(text[i])) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace

StatusOr<std::string> GenerateSecret() {
  unsigned char key[kMinKeyBytes];
  if (RAND_bytes(key, sizeof key) != 1) {
    return UnavailableError("cannot generate a webhook secret: RAND_bytes failed");
  }
  return std::string(kSecretPrefix) +
         Base64Encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
}

StatusOr<std::string> DecodeSecret(std::string_view whsec) {
  if (whsec.substr(0, kSecretPrefix.size()) != kSecretPrefix) {
    return InvalidArgumentError("webhook secret must start with \"whsec_\"");
  }
  std::optional<std::string> key = Base64Decode(whsec.substr(kSecretPrefix.size()));
  if (!key) return InvalidArgumentError("webhook secret is not valid base64 after \"whsec_\"");
  if (key->size() < kMinKeyBytes || key->size() > kMaxKeyBytes) {
    return InvalidArgumentError("webhook secret must decode to 24..64 bytes, got " +
                                std::to_string(key->size()));
  }
  return std::move(*key);
}

StatusOr<std::string> Sign(const std::vector<std::string>& secrets, std::string_view msg_id,
                           int64_t timestamp, std::string_view body) {
  if (secrets.empty()) return InvalidArgumentError("no webhook secret to sign with");
  std::string content;
  content.reserve(msg_id.size() + body.size() + 24);
  content.append(msg_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  std::string header;
  for (size_t i = 0; i < secrets.size(); ++i) {
    StatusOr<std::string> key = DecodeSecret(secrets[i]);
    if (!key.ok()) return key.status().WithContext("secret " + std::to_string(i + 1));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
             reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac,
             &mac_len) == nullptr) {
      return InternalError("HMAC-SHA256 failed");
    }
    if (!header.empty()) header += ' ';
    header += "v1,";
    header += Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
  }
  return header;
}

}  // namespace tw::notify
