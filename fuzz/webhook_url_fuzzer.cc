// Webhook destinations (notify/destination): the URL an operator registers and the SSRF guard
// that runs on every address it resolves to.
//
// Invariants: a parsed URL is http(s) with a host, a port in 1..65535 and a path starting with
// '/'; written back it parses to the same URL; the redacted form never shows the path or query.
// For a host that is a numeric address (in any inet_aton form: "2130706433", "0x7f.1") the
// resolved addresses go through CheckAddress, and so does the raw input: loopback, private,
// link-local, unspecified and cloud metadata addresses, and IPv4-mapped IPv6 forms of them, are
// always refused unless allow_private; allow_private accepts every numeric address. Host names
// are never resolved here (no DNS from a fuzzer).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "notify/destination.h"

namespace {

// An independent oracle for the ranges that must never be dialled without allow_private.
bool MustRefuseV4(uint32_t a) {
  const uint32_t first = a >> 24;
  return first == 0 || first == 10 || first == 127 || (a >> 20) == ((172u << 4) | 1) ||
         (a >> 16) == ((192u << 8) | 168) || (a >> 16) == ((169u << 8) | 254);
}

bool MustRefuse(const std::string& ip) {
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return MustRefuseV4(ntohl(a4.s_addr));
  in6_addr a6{};
  if (inet_pton(AF_INET6, ip.c_str(), &a6) != 1) return false;
  const unsigned char* b = a6.s6_addr;
  static const unsigned char kZero[16] = {};
  if (std::memcmp(b, kZero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return true;  // :: and ::1
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;                         // fe80::/10
  if ((b[0] & 0xfe) == 0xfc) return true;                                         // fc00::/7
  if (std::memcmp(b, kZero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) {         // ::ffff:v4
    return MustRefuseV4((uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                        uint32_t{b[15]});
  }
  return false;
}

bool IsNumeric(const std::string& ip) {
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, ip.c_str(), &a4) == 1 || inet_pton(AF_INET6, ip.c_str(), &a6) == 1;
}

void CheckIp(const std::string& ip) {
  tw::Status refused = tw::notify::CheckAddress(ip, /*allow_private=*/false);
  tw::Status allowed = tw::notify::CheckAddress(ip, /*allow_private=*/true);
  if (!IsNumeric(ip)) {
    TW_FUZZ_CHECK(refused.code() == tw::StatusCode::kInvalidArgument &&
                      allowed.code() == tw::StatusCode::kInvalidArgument,
                  "a non-numeric address is InvalidArgument");
    return;
  }
  TW_FUZZ_CHECK(allowed.ok(), "allow_private accepts every numeric address");
  TW_FUZZ_CHECK(refused.ok() || refused.code() == tw::StatusCode::kPermissionDenied,
                "a refusal is PermissionDenied");
  if (MustRefuse(ip)) TW_FUZZ_CHECK(!refused.ok(), "internal addresses are refused");
}

// Whether getaddrinfo reads `host` as a numeric address without asking a resolver.
bool NumericHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return false;
  freeaddrinfo(result);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckIp(std::string(text));

  auto url = tw::notify::ParseWebhookUrl(text);
  if (!url.ok()) {
    TW_FUZZ_CHECK(url.status().code() == tw::StatusCode::kInvalidArgument,
                  "ParseWebhookUrl fails only with InvalidArgument");
    return 0;
  }
  TW_FUZZ_CHECK(url->scheme == "http" || url->scheme == "https", "http or https");
  TW_FUZZ_CHECK(!url->host.empty(), "a host");
  TW_FUZZ_CHECK(url->port >= 1 && url->port <= 65535, "a port in range");
  TW_FUZZ_CHECK(!url->path_and_query.empty() && url->path_and_query[0] == '/', "a path");
  TW_FUZZ_CHECK(url->path_and_query.find('#') == std::string::npos, "no fragment");

  const std::string redacted = tw::notify::RedactUrl(*url);
  const bool root_only = url->path_and_query == "/";
  TW_FUZZ_CHECK(
      redacted.size() >= 4 && redacted.compare(redacted.size() - (root_only ? 1 : 4),
                                               std::string::npos, root_only ? "/" : "/***") == 0,
      "the redacted URL hides the path and query");

  const bool v6 = url->host.find(':') != std::string::npos;
  const std::string rebuilt = url->scheme + "://" + (v6 ? "[" + url->host + "]" : url->host) + ":" +
                              std::to_string(url->port) + url->path_and_query;
  if (rebuilt.size() <= 2048) {  // an explicit port may push a URL at the limit over it
    auto again = tw::notify::ParseWebhookUrl(rebuilt);
    TW_FUZZ_CHECK(again.ok(), "a parsed URL written back parses");
    TW_FUZZ_CHECK(again->scheme == url->scheme && again->host == url->host &&
                      again->port == url->port && again->path_and_query == url->path_and_query,
                  "to the same URL");
  }

  if (NumericHost(url->host)) {
    auto addresses = tw::notify::ResolveHost(url->host);
    TW_FUZZ_CHECK(addresses.ok() && !addresses->empty(), "a numeric host resolves to itself");
    for (const std::string& ip : *addresses) {
      TW_FUZZ_CHECK(IsNumeric(ip), "resolved addresses are numeric");
      CheckIp(ip);
    }
  }
  return 0;
}
