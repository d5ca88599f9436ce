#include "datasets/manifest.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/canonical_json.h"
#include "common/sha256.h"

namespace tw::datasets {
namespace {

struct LayoutNameEntry {
  Layout layout;
  const char* name;
};
constexpr LayoutNameEntry kLayouts[] = {{Layout::kWnidFolders, "wnid-folders"},
                                        {Layout::kIndexFolders, "index-folders"},
                                        {Layout::kLabelsFile, "labels-file"},
                                        {Layout::kCorruptionSuite, "corruption-suite"}};

Status Invalid(std::string_view source, const std::string& what) {
  return InvalidArgumentError(std::string(source) + ": manifest " + what);
}

}  // namespace

StatusOr<Layout> ParseLayout(const std::string& text) {
  for (const auto& entry : kLayouts) {
    if (text == entry.name) return entry.layout;
  }
  return InvalidArgumentError("invalid layout \"" + text +
                              "\": expected wnid-folders, index-folders, labels-file or "
                              "corruption-suite");
}

std::string LayoutName(Layout layout) {
  for (const auto& entry : kLayouts) {
    if (entry.layout == layout) return entry.name;
  }
  return "unknown";
}

bool IsSafeRelativePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.size() > 4096) return false;
  if (path.find('\0') != std::string::npos || path.find('\\') != std::string::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

StatusOr<std::string> ManifestToCanonicalJson(const Manifest& manifest) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : manifest.files) {
    nlohmann::json entry = {
        {"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"labels", f.labels}};
    if (manifest.layout == Layout::kCorruptionSuite) {
      entry["corruption"] = f.corruption;
      entry["severity"] = f.severity;
    }
    files.push_back(std::move(entry));
  }
  nlohmann::json doc = {
      {"manifest_version", Manifest::kVersion},
      {"layout", LayoutName(manifest.layout)},
      {"protocol",
       {{"model_classes", manifest.protocol.model_classes},
        {"subset", manifest.protocol.subset},
        {"multi_label", manifest.protocol.multi_label},
        {"resize_and_crop", manifest.protocol.resize_and_crop}}},
      {"classes", manifest.classes},
      {"files", std::move(files)},
  };
  return CanonicalJson(doc);
}

StatusOr<std::string> ManifestSha256(const Manifest& manifest) {
  TW_ASSIGN_OR_RETURN(std::string canonical, ManifestToCanonicalJson(manifest));
  return Sha256Hex(canonical);
}

std::string FilesDigest(const Manifest& manifest) {
  Sha256Hasher hasher;
  for (const auto& f : manifest.files) {
    hasher.Update(f.path);
    hasher.Update("\n", 1);
    hasher.Update(f.sha256);
    hasher.Update("\n", 1);
  }
  return hasher.FinishHex();
}

StatusOr<Manifest> ManifestFromJson(std::string_view text, std::string_view source_name) {
  TW_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(text, source_name));
  if (!doc.is_object()) return Invalid(source_name, "is not a JSON object");
  Manifest m;
  auto get = [&](const char* key) -> const nlohmann::json* {
    auto it = doc.find(key);
    return it == doc.end() ? nullptr : &*it;
  };
  const auto* version = get("manifest_version");
  if (!version || !version->is_number_integer() || version->get<int>() != Manifest::kVersion) {
    return Invalid(source_name, "has no manifest_version 1");
  }
  const auto* layout = get("layout");
  if (!layout || !layout->is_string()) return Invalid(source_name, "has no layout");
  // Named like every other error here: a bad stored manifest must say which one it is.
  auto parsed_layout = ParseLayout(layout->get<std::string>());
  if (!parsed_layout.ok())
    return Invalid(source_name, "layout: " + parsed_layout.status().message());
  m.layout = *parsed_layout;

  const auto* protocol = get("protocol");
  if (!protocol || !protocol->is_object()) return Invalid(source_name, "has no protocol object");
  auto p_int = protocol->find("model_classes");
  if (p_int == protocol->end() || !p_int->is_number_integer() || p_int->get<int64_t>() < 1 ||
      p_int->get<int64_t>() > 100000) {
    return Invalid(source_name, "protocol.model_classes must be an integer in 1..100000");
  }
  m.protocol.model_classes = p_int->get<int>();
  for (const char* flag : {"multi_label", "resize_and_crop"}) {
    auto it = protocol->find(flag);
    if (it == protocol->end() || !it->is_boolean()) {
      return Invalid(source_name, std::string("protocol.") + flag + " must be true or false");
    }
  }
  m.protocol.multi_label = protocol->at("multi_label").get<bool>();
  m.protocol.resize_and_crop = protocol->at("resize_and_crop").get<bool>();
  auto subset = protocol->find("subset");
  if (subset == protocol->end() || !subset->is_array()) {
    return Invalid(source_name, "protocol.subset must be an array");
  }
  std::set<int> seen;
  for (const auto& s : *subset) {
    if (!s.is_number_integer() || s.get<int64_t>() < 0 ||
        s.get<int64_t>() >= m.protocol.model_classes || !seen.insert(s.get<int>()).second) {
      return Invalid(source_name, "protocol.subset holds a bad or repeated class index");
    }
    m.protocol.subset.push_back(s.get<int>());
  }

  const auto* classes = get("classes");
  if (!classes || !classes->is_array()) return Invalid(source_name, "has no classes array");
  for (const auto& c : *classes) {
    if (!c.is_string()) return Invalid(source_name, "classes must be strings");
    m.classes.push_back(c.get<std::string>());
  }
  const auto* files = get("files");
  if (!files || !files->is_array()) return Invalid(source_name, "has no files array");
  m.files.reserve(files->size());
  for (size_t i = 0; i < files->size(); ++i) {
    const auto& f = (*files)[i];
    std::string where = "files[" + std::to_string(i) + "]";
    if (!f.is_object()) return Invalid(source_name, where + " is not an object");
    ManifestFile file;
    auto path = f.find("path");
    if (path == f.end() || !path->is_string() || !IsSafeRelativePath(path->get<std::string>())) {
      return Invalid(source_name, where + ".path is not a safe relative path");
    }
    file.path = path->get<std::string>();
    auto sha = f.find("sha256");
    if (sha == f.end() || !sha->is_string() || !IsSha256Hex(sha->get<std::string>())) {
      return Invalid(source_name, where + ".sha256 is not a SHA-256 (" + file.path + ")");
    }
    file.sha256 = sha->get<std::string>();
    auto size = f.find("size");
    if (size == f.end() || !size->is_number_unsigned()) {
      return Invalid(source_name, where + ".size is not a byte count (" + file.path + ")");
    }
    file.size = size->get<uint64_t>();
    auto labels = f.find("labels");
    if (labels == f.end() || !labels->is_array()) {
      return Invalid(source_name, where + ".labels is not an array (" + file.path + ")");
    }
    for (const auto& l : *labels) {
      if (!l.is_number_integer() || l.get<int64_t>() < 0 ||
          l.get<int64_t>() >= m.protocol.model_classes) {
        return Invalid(source_name, where + " has a label out of range (" + file.path + ")");
      }
      file.labels.push_back(l.get<int>());
    }
    if (!m.protocol.multi_label && file.labels.size() != 1) {
      return Invalid(source_name, where + " needs exactly one label (" + file.path + ")");
    }
    if (m.layout == Layout::kCorruptionSuite) {
      auto corruption = f.find("corruption");
      auto severity = f.find("severity");
      if (corruption == f.end() || !corruption->is_string() || corruption->empty() ||
          severity == f.end() || !severity->is_number_integer() || severity->get<int64_t>() < 1 ||
          severity->get<int64_t>() > 5) {
        return Invalid(source_name,
                       where + " needs a corruption and a severity 1..5 (" + file.path + ")");
      }
      file.corruption = corruption->get<std::string>();
      file.severity = severity->get<int>();
    }
    if (!m.files.empty() && !(m.files.back().path < file.path)) {
      return Invalid(source_name,
                     "files are not sorted by path, or repeat one (" + file.path + ")");
    }
    m.files.push_back(std::move(file));
  }
  return m;
}

}  // namespace tw::datasets
