#include "common/message_id.h"

#include <openssl/rand.h>

#include <chrono>
#include <random>

#include "common/sha256.h"

namespace tw {

std::string EncodeMessageId(const std::array<uint8_t, 16>& bytes) {
  static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  // 26 characters of 5 bits = 130 bits; the first character carries the top 3 bits.
  std::string id = "msg_";
  for (int c = 0; c < 26; ++c) {
    int bit = c * 5 - 2;  // position of this character's first bit in the 128-bit number
    int value = 0;
    for (int b = 0; b < 5; ++b) {
      int pos = bit + b;
      int v = 0;
      if (pos >= 0) v = (bytes[pos / 8] >> (7 - pos % 8)) & 1;
      value = (value << 1) | v;
    }
    id += kCrockford[value];
  }
  return id;
}

std::string NewMessageId() {
  std::array<uint8_t, 16> bytes{};
  uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  if (RAND_bytes(bytes.data() + 6, 10) != 1) {
    std::random_device rd;  // the CSPRNG failed: uniqueness still matters, secrecy does not
    for (int i = 6; i < 16; ++i) bytes[i] = static_cast<uint8_t>(rd());
  }
  return EncodeMessageId(bytes);
}

std::string DerivedMessageId(std::string_view seed) {
  Sha256Hasher hasher;
  hasher.Update(seed);
  auto digest = hasher.Finish();
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = digest[i];
  return EncodeMessageId(bytes);
}

}  // namespace tw
