// Message ids in the Standard Webhooks style TransferWatch uses: "msg_" + 26 Crockford base32
// characters. One encoder for the three kinds: new events (ULID layout, so ids sort by time),
// and ids derived from content (a coalesced message's id from its events' ids, the same in
// every daemon). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tw {

// "msg_" + the 128 bits as 26 Crockford base32 characters (the first carries the top 3 bits).
std::string EncodeMessageId(const std::array<uint8_t, 16>& bits);

// 48-bit milliseconds since the epoch, then 80 random bits (OpenSSL's CSPRNG).
std::string NewMessageId();

// The first 128 bits of SHA-256(seed): equal seeds give equal ids.
std::string DerivedMessageId(std::string_view seed);

}  // namespace tw
