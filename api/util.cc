// The parts of http_server.h that do not need httplib: JSON bodies, loopback hosts, token files.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "api/http_server.h"
#include "common/file_util.h"

namespace tw::api {

HttpResponse JsonError(int status, std::string_view code, std::string_view message,
                       std::optional<std::string_view> field) {
  nlohmann::json error = {{"code", std::string(code)}, {"message", std::string(message)}};
  if (field.has_value()) error["field"] = std::string(*field);
  HttpResponse response;
  response.status = status;
  response.body = nlohmann::json{{"error", std::move(error)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse JsonOk(std::string body_json, int status) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body_json);
  return response;
}

HttpResponse HtmlOk(std::string html, int status) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(html);
  return response;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

StatusOr<std::string> DecodeFormComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      const int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return InvalidArgumentError("form body: '%' must be followed by two hex digits");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

StatusOr<std::multimap<std::string, std::string>> ParseFormBody(std::string_view body) {
  std::multimap<std::string, std::string> fields;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view pair = body.substr(start, end - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      TW_ASSIGN_OR_RETURN(std::string name, DecodeFormComponent(pair.substr(0, eq)));
      std::string value;
      if (eq != std::string_view::npos) {
        TW_ASSIGN_OR_RETURN(value, DecodeFormComponent(pair.substr(eq + 1)));
      }
      fields.emplace(std::move(name), std::move(value));
    }
    start = end + 1;
  }
  return fields;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() == 9) {
    std::string lower(host);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "localhost") return true;
  }
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

StatusOr<std::string> ReadTokenFile(const std::string& path) {
  TW_ASSIGN_OR_RETURN(std::string token,
                      ReadOwnerOnlyLine(path, "api token file " + path, /*max_bytes=*/4096));
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgumentError("api token file " + path +
                                  ": the token may contain only visible ASCII characters "
                                  "(no spaces, control characters or a second line)");
    }
  }
  return token;
}

}  // namespace tw::api
