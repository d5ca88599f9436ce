// Route patterns and matching for HttpServer (internal to api/; no httplib here).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.h"
#include "common/status.h"

namespace tw::api {

class Router {
 public:
  // Validates the table: methods GET or POST, patterns "/" or "/seg/{param}/..." where a literal
  // segment uses [A-Za-z0-9._~-] (not "." or "..") and a parameter name [a-z_][a-z0-9_]*, unique
  // within its pattern; no two routes with the same method and shape; every handler set.
  static StatusOr<Router> Create(std::vector<Route> routes);

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed, kBadPath };
    Kind kind = Kind::kNotFound;
    const Route* route = nullptr;  // kFound; for kMethodNotAllowed, the best path match
    std::map<std::string, std::string> path_params;
    std::vector<std::string> allowed_methods;  // kMethodNotAllowed: sorted, with HEAD after GET
  };
  // `method` as sent (HEAD is matched against GET routes); `path` already percent-decoded.
  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Compiled {
    std::vector<std::string> segments;  // literal text, or "" for a parameter
    std::vector<std::string> params;    // parameter name per segment ("" for literals)
  };
  Router() = default;

  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;  // parallel to routes_
};

// Splits "/a/b" into {"a", "b"}; "/" into {}. Empty segments are kept ("//" gives {"", ""}).
std::vector<std::string> SplitPath(std::string_view path);

}  // namespace tw::api
