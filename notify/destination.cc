#include "notify/destination.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace tw::notify {
namespace {

constexpr size_t kMaxUrlLength = 2048;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsHostNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

struct V4Range {
  uint32_t base;
  int prefix;
  const char* name;
};

constexpr uint32_t V4(int a, int b, int c, int d) {
  return (static_cast<uint32_t>(a) << 24) | (static_cast<uint32_t>(b) << 16) |
         (static_cast<uint32_t>(c) << 8) | static_cast<uint32_t>(d);
}

// Svix's is_allowed list (svix-server webhook_http_client.rs) plus multicast.
constexpr std::array<V4Range, 16> kRefusedV4 = {{
    {V4(0, 0, 0, 0), 8, "unspecified/this-network 0.0.0.0/8"},
    {V4(10, 0, 0, 0), 8, "private 10.0.0.0/8"},
    {V4(100, 64, 0, 0), 10, "shared CGNAT 100.64.0.0/10"},
    {V4(127, 0, 0, 0), 8, "loopback 127.0.0.0/8"},
    {V4(169, 254, 169, 254), 32, "cloud metadata 169.254.169.254 (link-local 169.254.0.0/16)"},
    {V4(169, 254, 0, 0), 16, "link-local 169.254.0.0/16"},
    {V4(172, 16, 0, 0), 12, "private 172.16.0.0/12"},
    {V4(192, 0, 0, 0), 24, "IETF protocol assignments 192.0.0.0/24"},
    {V4(192, 0, 2, 0), 24, "documentation TEST-NET-1 192.0.2.0/24"},
    {V4(192, 168, 0, 0), 16, "private 192.168.0.0/16"},
    {V4(198, 18, 0, 0), 15, "benchmarking 198.18.0.0/15"},
    {V4(198, 51, 100, 0), 24, "documentation TEST-NET-2 198.51.100.0/24"},
    {V4(203, 0, 113, 0), 24, "documentation TEST-NET-3 203.0.113.0/24"},
    {V4(224, 0, 0, 0), 4, "multicast 224.0.0.0/4"},
    {V4(255, 255, 255, 255), 32, "broadcast 255.255.255.255"},
    {V4(240, 0, 0, 0), 4, "reserved 240.0.0.0/4"},
}};

const char* RefusedV4Range(uint32_t addr) {
  for (const V4Range& r : kRefusedV4) {
    uint32_t mask = r.prefix == 0 ? 0 : ~uint32_t{0} << (32 - r.prefix);
    if ((addr & mask) == (r.base & mask)) return r.name;
  }
  return nullptr;
}

uint32_t V4At(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

bool PrefixMatches(const unsigned char* a, const std::array<unsigned char, 16>& base, int bits) {
  for (int i = 0; i < bits; ++i) {
    int mask = 0x80 >> (i % 8);
    if ((a[i / 8] & mask) != (base[static_cast<size_t>(i / 8)] & mask)) return false;
  }
  return true;
}

std::array<unsigned char, 16> V6(std::initializer_list<int> groups) {
  std::array<unsigned char, 16> out{};
  size_t i = 0;
  for (int g : groups) {
    out[i++] = static_cast<unsigned char>(g >> 8);
    out[i++] = static_cast<unsigned char>(g & 0xff);
  }
  return out;
}

// The refused range of an IPv6 address, a description with the embedded IPv4 when that is
// what is refused, or empty when allowed.
std::string RefusedV6Range(const unsigned char* a) {
  static const auto kZero = V6({});
  bool first80_zero = PrefixMatches(a, kZero, 80);
  if (PrefixMatches(a, kZero, 128)) return "unspecified ::";
  if (PrefixMatches(a, V6({0, 0, 0, 0, 0, 0, 0, 1}), 128)) return "loopback ::1";
  auto embedded = [&](const char* kind, const unsigned char* v4) -> std::string {
    if (const char* r = RefusedV4Range(V4At(v4))) return std::string(kind) + " of " + r;
    return "";
  };
  if (first80_zero && a[10] == 0xff && a[11] == 0xff) {
    return embedded("IPv4-mapped ::ffff:0:0/96", a + 12);
  }
  if (PrefixMatches(a, kZero, 96)) return embedded("IPv4-compatible ::/96", a + 12);
  if (PrefixMatches(a, V6({0x64, 0xff9b}), 96)) return embedded("NAT64 64:ff9b::/96", a + 12);
  if (PrefixMatches(a, V6({0x64, 0xff9b, 1}), 48)) return "local-use NAT64 64:ff9b:1::/48";
  if (PrefixMatches(a, V6({0x2002}), 16)) return embedded("6to4 2002::/16", a + 2);
  if (PrefixMatches(a, V6({0x2001, 0}), 32)) return "Teredo 2001::/32";
  if (PrefixMatches(a, V6({0x2001, 0xdb8}), 32)) return "documentation 2001:db8::/32";
  if (PrefixMatches(a, V6({0x100}), 64)) return "discard-only 100::/64";
  if (PrefixMatches(a, V6({0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254}), 128)) {
    return "cloud metadata fd00:ec2::254 (unique local fc00::/7)";
  }
  if (PrefixMatches(a, V6({0xfc00}), 7)) return "unique local fc00::/7";
  if (PrefixMatches(a, V6({0xfe80}), 10)) return "link-local fe80::/10";
  if (PrefixMatches(a, V6({0xfec0}), 10)) return "site-local fec0::/10";
  if (PrefixMatches(a, V6({0xff00}), 8)) return "multicast ff00::/8";
  return "";
}

}  // namespace

StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  if (url.empty()) return InvalidArgumentError("webhook URL is empty");
  if (url.size() > kMaxUrlLength) {
    return InvalidArgumentError("webhook URL is longer than 2048 characters");
  }
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return InvalidArgumentError("webhook URL contains whitespace or a control character");
    }
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return InvalidArgumentError("webhook URL has no scheme (expected http:// or https://)");
  }
  WebhookUrl out;
  out.scheme = Lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    return InvalidArgumentError("webhook URL scheme must be http or https, not '" +
                                out.scheme.substr(0, 16) + "'");
  }
  std::string_view rest = url.substr(sep + 3);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view tail = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgumentError("webhook URL must not contain user information (user:pass@)");
  }
  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgumentError("webhook URL has an unterminated IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgumentError("webhook URL has a malformed host");
      port_text = after.substr(1);
      if (port_text.empty()) return InvalidArgumentError("webhook URL has an empty port");
    }
    in6_addr a6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return InvalidArgumentError("webhook URL has an invalid IPv6 literal");
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return InvalidArgumentError("webhook URL has an empty port");
    }
    for (char c : host) {
      if (!IsHostNameChar(c)) {
        return InvalidArgumentError("webhook URL host contains an invalid character");
      }
    }
    if (host.size() > 253) return InvalidArgumentError("webhook URL host is too long");
  }
  if (host.empty()) return InvalidArgumentError("webhook URL has no host");
  out.host = Lower(host);
  out.port = out.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return InvalidArgumentError("webhook URL port must be a number in 1..65535");
    }
    int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) {
      return InvalidArgumentError("webhook URL port must be a number in 1..65535");
    }
    out.port = port;
  }
  tail = tail.substr(0, tail.find('#'));  // the fragment is never sent
  out.path_and_query = std::string(tail);
  if (out.path_and_query.empty() || out.path_and_query.front() != '/') {
    out.path_and_query.insert(0, "/");
  }
  return out;
}

StatusOr<std::vector<std::string>> ResolveHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return UnavailableError("cannot resolve webhook host '" + host + "': " + gai_strerror(rc));
  }
  std::vector<std::string> out;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src = nullptr;
    if (ai->ai_family == AF_INET) {
      src = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6) {
      src = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(ai->ai_family, src, buf, sizeof buf) == nullptr) continue;
    std::string ip(buf);
    if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  }
  freeaddrinfo(result);
  if (out.empty()) {
    return UnavailableError("webhook host '" + host + "' resolved to no IPv4 or IPv6 address");
  }
  return out;
}

Status CheckAddress(const std::string& ip, bool allow_private) {
  in_addr a4;
  in6_addr a6;
  std::string range;
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
    const char* r = RefusedV4Range(ntohl(a4.s_addr));
    if (r != nullptr) range = r;
  } else if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) {
    range = RefusedV6Range(a6.s6_addr);
  } else {
    return InvalidArgumentError("'" + ip + "' is not a numeric IP address");
  }
  if (range.empty() || allow_private) return OkStatus();
  return PermissionDeniedError("webhook address " + ip + " is in a refused range (" + range +
                               "); set allow_private for this destination to reach it");
}

std::string RedactUrl(const WebhookUrl& url) {
  std::string out = url.scheme + "://";
  out += url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  int default_port = url.scheme == "https" ? 443 : 80;
  if (url.port != default_port) out += ":" + std::to_string(url.port);
  out += url.path_and_query.empty() || url.path_and_query == "/" ? "/" : "/***";
  return out;
}

}  // namespace tw::notify
