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
  constexpr size_t kMaxTokenBytes = 4096;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    const std::string message = "api token file " + path + ": " + std::strerror(err);
    if (err == ENOENT) return NotFoundError(message);
    if (err == EACCES || err == EPERM) return PermissionDeniedError(message);
    return UnknownError(message);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return UnknownError("api token file " + path + ": fstat: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgumentError("api token file " + path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDeniedError("api token file " + path + " has mode " + mode +
                                 ": group and other must have no access (chmod 600)");
  }
  std::string token;
  char buf[1024];
  while (token.size() <= kMaxTokenBytes + 2) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnknownError("api token file " + path + ": read: " + std::strerror(errno));
    }
    if (n == 0) break;
    token.append(buf, static_cast<size_t>(n));
  }
  if (!token.empty() && token.back() == '\n') {
    token.pop_back();
    if (!token.empty() && token.back() == '\r') token.pop_back();
  }
  if (token.empty()) return InvalidArgumentError("api token file " + path + " is empty");
  if (token.size() > kMaxTokenBytes) {
    return InvalidArgumentError("api token file " + path + " is longer than 4096 bytes");
  }
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
