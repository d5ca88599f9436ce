#include "api/router.h"

#include <algorithm>
#include <set>
#include <utility>

namespace tw::api {
namespace {

bool IsLiteralChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

bool IsParamName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  if (path.empty() || path == "/") return segments;
  size_t start = path.front() == '/' ? 1 : 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.emplace_back(path.substr(start));
      break;
    }
    segments.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

StatusOr<Router> Router::Create(std::vector<Route> routes) {
  Router router;
  std::set<std::pair<std::string, std::string>> shapes;  // (method, pattern with {} blanks)
  for (const Route& route : routes) {
    const std::string where = "route " + route.method + " " + route.pattern;
    if (route.method != "GET" && route.method != "POST") {
      return InvalidArgumentError(where + ": method must be GET or POST");
    }
    if (!route.handler) return InvalidArgumentError(where + ": no handler");
    if (route.pattern.empty() || route.pattern.front() != '/') {
      return InvalidArgumentError(where + ": pattern must start with '/'");
    }
    Compiled compiled;
    std::set<std::string> names;
    std::string shape;
    for (const std::string& segment : SplitPath(route.pattern)) {
      if (segment.empty()) {
        return InvalidArgumentError(where + ": empty path segment (\"//\" or a trailing '/')");
      }
      if (segment.front() == '{') {
        if (segment.back() != '}' ||
            !IsParamName(std::string_view(segment).substr(1, segment.size() - 2))) {
          return InvalidArgumentError(where + ": bad parameter segment '" + segment +
                                      "' (want {name} with name [a-z_][a-z0-9_]*)");
        }
        const std::string name = segment.substr(1, segment.size() - 2);
        if (!names.insert(name).second) {
          return InvalidArgumentError(where + ": parameter '" + name + "' repeated");
        }
        compiled.segments.emplace_back();
        compiled.params.push_back(name);
        shape += "/{}";
      } else {
        if (segment == "." || segment == ".." ||
            !std::all_of(segment.begin(), segment.end(), IsLiteralChar)) {
          return InvalidArgumentError(where + ": bad literal segment '" + segment + "'");
        }
        compiled.segments.push_back(segment);
        compiled.params.emplace_back();
        shape += "/" + segment;
      }
    }
    if (!shapes.emplace(route.method, shape).second) {
      return InvalidArgumentError(where + ": duplicate of another route with the same method");
    }
    router.compiled_.push_back(std::move(compiled));
  }
  router.routes_ = std::move(routes);
  return router;
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string_view::npos) {
    match.kind = Match::Kind::kBadPath;
    return match;
  }
  const std::vector<std::string> segments = SplitPath(path);
  for (const std::string& segment : segments) {
    if (segment == "." || segment == "..") {
      match.kind = Match::Kind::kBadPath;
      return match;
    }
  }
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;

  // Among matching routes, literal segments win over parameters at the first difference:
  // compare "literal masks" ('1' literal, '0' parameter) lexicographically.
  const Route* best_any = nullptr;
  std::string best_any_mask;
  const Route* best = nullptr;
  std::string best_mask;
  size_t best_index = 0;
  std::set<std::string> methods;
  for (size_t r = 0; r < routes_.size(); ++r) {
    const Compiled& compiled = compiled_[r];
    if (compiled.segments.size() != segments.size()) continue;
    std::string mask;
    bool ok = true;
    for (size_t i = 0; i < segments.size() && ok; ++i) {
      if (compiled.params[i].empty()) {
        ok = segments[i] == compiled.segments[i];
        mask += '1';
      } else {
        ok = !segments[i].empty();
        mask += '0';
      }
    }
    if (!ok) continue;
    methods.insert(routes_[r].method);
    if (best_any == nullptr || mask > best_any_mask) {
      best_any = &routes_[r];
      best_any_mask = mask;
    }
    if (routes_[r].method == wanted && (best == nullptr || mask > best_mask)) {
      best = &routes_[r];
      best_mask = mask;
      best_index = r;
    }
  }
  if (best != nullptr) {
    match.kind = Match::Kind::kFound;
    match.route = best;
    const Compiled& compiled = compiled_[best_index];
    for (size_t i = 0; i < segments.size(); ++i) {
      if (!compiled.params[i].empty()) match.path_params[compiled.params[i]] = segments[i];
    }
    return match;
  }
  if (best_any != nullptr) {
    match.kind = Match::Kind::kMethodNotAllowed;
    match.route = best_any;
    for (const std::string& m : methods) {
      match.allowed_methods.push_back(m);
      if (m == "GET") match.allowed_methods.push_back("HEAD");
    }
    return match;
  }
  match.kind = Match::Kind::kNotFound;
  return match;
}

}  // namespace tw::api
