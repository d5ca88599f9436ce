#include "datasets/scan.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/canonical_json.h"
#include "common/csv.h"
#include "common/file_util.h"
#include "common/numbers.h"
#include "common/sha256.h"

namespace tw::datasets {
namespace {

constexpr uint64_t kMaxListBytes = 256ull << 20;  // class lists and label files
constexpr int kMaxClasses = 32767;

bool IsImageName(const std::string& name) {
  auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

std::string RealPath(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) return "";
  return buffer;
}

// Every image below `root`, as sorted relative paths.
class Walker {
 public:
  explicit Walker(std::string root) : root_(std::move(root)), real_root_(RealPath(root_)) {}

  StatusOr<std::vector<std::string>> Images() {
    if (real_root_.empty()) return ErrnoToStatus(errno, "cannot open dataset folder " + root_);
    struct stat st {};
    if (::stat(root_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return InvalidArgumentError(root_ + " is not a folder");
    }
    std::vector<std::string> out;
    TW_RETURN_IF_ERROR(Walk("", &out, 0));
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  Status Walk(const std::string& relative, std::vector<std::string>* out, int depth) {
    if (depth > 32) return InvalidArgumentError(root_ + "/" + relative + ": folders nest too deep");
    std::string dir = relative.empty() ? root_ : root_ + "/" + relative;
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) return ErrnoToStatus(errno, "cannot read folder " + dir);
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(handle)) {
      if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    }
    ::closedir(handle);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      std::string rel = relative.empty() ? name : relative + "/" + name;
      std::string full = root_ + "/" + rel;
      struct stat st {};
      if (::lstat(full.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot stat " + full);
      if (S_ISLNK(st.st_mode)) {
        // Followed only inside the root: a manifest describes one folder tree.
        std::string target = RealPath(full);
        if (target.empty() || (target != real_root_ && target.rfind(real_root_ + "/", 0) != 0)) {
          return InvalidArgumentError(full + " is a symlink that leaves the dataset folder");
        }
        if (::stat(full.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot stat " + full);
      }
      if (S_ISDIR(st.st_mode)) {
        TW_RETURN_IF_ERROR(Walk(rel, out, depth + 1));
      } else if (S_ISREG(st.st_mode) && IsImageName(name)) {
        out->push_back(rel);
      }
    }
    return OkStatus();
  }

  std::string root_;
  std::string real_root_;
};

std::string FirstComponent(const std::string& path) { return path.substr(0, path.find('/')); }

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    parts.push_back(path.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string BaseStem(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  return base.substr(0, base.rfind('.'));
}

// Hashes every file in parallel, filling sha256 and size.
Status HashFiles(const std::string& root, std::vector<ManifestFile>* files, int threads,
                 const std::function<void(size_t, size_t)>& progress) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min<int>(threads, static_cast<int>(std::max<size_t>(1, files->size())));
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex mutex;
  Status first_error;
  auto work = [&] {
    while (true) {
      size_t i = next.fetch_add(1);
      if (i >= files->size()) return;
      auto& file = (*files)[i];
      uint64_t bytes = 0;
      auto digest = Sha256FileHex(root + "/" + file.path, &bytes);
      std::lock_guard<std::mutex> lock(mutex);
      if (!digest.ok()) {
        if (first_error.ok()) first_error = digest.status();
        next = files->size();  // stop the others early
        return;
      }
      file.sha256 = *digest;
      file.size = bytes;
      size_t now = ++done;
      if (progress) progress(now, files->size());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  return first_error;
}

// Class index of each name, from a class list or from the sorted names themselves.
StatusOr<std::vector<std::string>> ClassesFor(const DatasetSource& source,
                                              const std::set<std::string>& folder_names) {
  if (source.classes_file) return ReadClassList(*source.classes_file);
  return std::vector<std::string>(folder_names.begin(), folder_names.end());
}

StatusOr<int> ClassIndex(const std::map<std::string, int>& index, const std::string& name,
                         const DatasetSource& source, const std::string& where) {
  auto it = index.find(name);
  if (it == index.end()) {
    return InvalidArgumentError(where + ": folder \"" + name + "\" is not in the class list " +
                                source.classes_file.value_or("(the sorted folder names)"));
  }
  return it->second;
}

Status AssignLabelsFromFile(const DatasetSource& source, Manifest* m) {
  TW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(*source.labels_file, kMaxListBytes));
  const std::string& name = *source.labels_file;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    // ImageNet-ReaL: label lists in the order of the files' base names.
    TW_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(text, name));
    if (!doc.is_array())
      return InvalidArgumentError(name + ": expected a JSON list of label lists");
    std::vector<size_t> order(m->files.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return BaseStem(m->files[a].path) < BaseStem(m->files[b].path);
    });
    for (size_t k = 1; k < order.size(); ++k) {
      // The list is matched by base name: two files with one name would get arbitrary labels.
      if (BaseStem(m->files[order[k]].path) == BaseStem(m->files[order[k - 1]].path)) {
        return InvalidArgumentError(name + " assigns labels by base name, but " +
                                    m->files[order[k - 1]].path + " and " +
                                    m->files[order[k]].path + " share one");
      }
    }
    if (doc.size() != m->files.size()) {
      return InvalidArgumentError(name + " holds " + std::to_string(doc.size()) +
                                  " label lists, but the folder has " +
                                  std::to_string(m->files.size()) + " images");
    }
    for (size_t k = 0; k < order.size(); ++k) {
      const auto& entry = doc[k];
      if (!entry.is_array()) {
        return InvalidArgumentError(name + ": entry " + std::to_string(k) + " is not a list");
      }
      auto& file = m->files[order[k]];
      for (const auto& label : entry) {
        if (!label.is_number_integer() || label.get<int64_t>() < 0 ||
            label.get<int64_t>() > 100000) {
          return InvalidArgumentError(name + ": entry " + std::to_string(k) + " (" + file.path +
                                      ") has a label that is not a class index");
        }
        file.labels.push_back(label.get<int>());
      }
    }
    m->protocol.multi_label = true;
    return OkStatus();
  }
  // CSV: path,label[;label...]
  TW_ASSIGN_OR_RETURN(auto records, ParseCsv(text, name));
  std::map<std::string, size_t> by_path;
  for (size_t i = 0; i < m->files.size(); ++i) by_path[m->files[i].path] = i;
  std::vector<bool> seen(m->files.size(), false);
  bool multi = false;
  for (const auto& record : records) {
    std::string where = name + ":" + std::to_string(record.line);
    if (record.fields.size() != 2) {
      return InvalidArgumentError(where + ": expected path,label[;label...]");
    }
    auto it = by_path.find(record.fields[0]);
    if (it == by_path.end()) {
      return InvalidArgumentError(where + ": " + record.fields[0] + " is not an image in " +
                                  source.root);
    }
    if (seen[it->second]) return InvalidArgumentError(where + ": " + record.fields[0] + " again");
    seen[it->second] = true;
    auto& file = m->files[it->second];
    const std::string& labels = record.fields[1];
    size_t start = 0;
    while (!labels.empty() && start <= labels.size()) {
      size_t end = labels.find(';', start);
      if (end == std::string::npos) end = labels.size();
      auto label = ParseInt(labels.substr(start, end - start));
      if (!label.ok() || *label < 0) {
        return InvalidArgumentError(where + ": \"" + labels + "\" is not a list of class indices");
      }
      file.labels.push_back(*label);
      start = end + 1;
    }
    if (file.labels.size() != 1) multi = true;
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return InvalidArgumentError(name + " has no labels for " + m->files[i].path);
    }
  }
  m->protocol.multi_label = multi;
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<std::string>> ReadClassList(const std::string& path) {
  TW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxListBytes));
  std::vector<std::string> classes;
  std::set<std::string> seen;
  size_t start = 0;
  int line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    ++line;
    if (!name.empty() && name.back() == '\r') name.pop_back();
    // The first tab-separated field, so a "wnid<TAB>lemma" file works too.
    name = name.substr(0, name.find('\t'));
    if (name.empty())
      return InvalidArgumentError(path + ":" + std::to_string(line) + ": empty line");
    if (!seen.insert(name).second) {
      return InvalidArgumentError(path + ":" + std::to_string(line) + ": class \"" + name +
                                  "\" is listed twice");
    }
    classes.push_back(std::move(name));
    start = end + 1;
  }
  if (classes.empty()) return InvalidArgumentError(path + ": no classes");
  return classes;
}

StatusOr<Manifest> ScanDataset(const DatasetSource& source) {
  TW_ASSIGN_OR_RETURN(std::vector<std::string> images, Walker(source.root).Images());
  if (images.empty()) {
    return InvalidArgumentError(source.root + " holds no images (.jpg, .jpeg or .png)");
  }
  Manifest m;
  m.layout = source.layout;
  for (const auto& path : images) m.files.push_back(ManifestFile{path, "", 0, {}, "", 0});

  switch (source.layout) {
    case Layout::kWnidFolders:
    case Layout::kCorruptionSuite: {
      bool suite = source.layout == Layout::kCorruptionSuite;
      size_t class_depth = suite ? 2 : 0;  // <corruption>/<severity>/<wnid>/...
      std::set<std::string> folder_names;
      for (const auto& file : m.files) {
        auto parts = Components(file.path);
        if (parts.size() < class_depth + 2) {
          return InvalidArgumentError(
              source.root + "/" + file.path + " is not inside a " +
              (suite ? "<corruption>/<severity>/<class> folder" : "class folder"));
        }
        folder_names.insert(parts[class_depth]);
      }
      TW_ASSIGN_OR_RETURN(m.classes, ClassesFor(source, folder_names));
      std::map<std::string, int> index;
      for (size_t i = 0; i < m.classes.size(); ++i) index[m.classes[i]] = static_cast<int>(i);
      for (auto& file : m.files) {
        auto parts = Components(file.path);
        TW_ASSIGN_OR_RETURN(int label, ClassIndex(index, parts[class_depth], source,
                                                  source.root + "/" + file.path));
        file.labels = {label};
        if (suite) {
          file.corruption = parts[0];
          bool name_ok = !file.corruption.empty() &&
                         std::all_of(file.corruption.begin(), file.corruption.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                         });
          auto severity = ParseInt(parts[1]);
          if (!name_ok || !severity.ok() || *severity < 1 || *severity > 5) {
            return InvalidArgumentError(source.root + "/" + parts[0] + "/" + parts[1] +
                                        ": expected <corruption>/<severity 1-5>/<class>");
          }
          file.severity = *severity;
        }
      }
      m.protocol.model_classes = static_cast<int>(m.classes.size());
      m.protocol.resize_and_crop = !suite;
      break;
    }
    case Layout::kIndexFolders: {
      if (source.classes_file) {
        TW_ASSIGN_OR_RETURN(m.classes, ReadClassList(*source.classes_file));
      }
      int max_label = -1;
      for (auto& file : m.files) {
        std::string folder = FirstComponent(file.path);
        auto label = ParseInt(folder);
        if (folder == file.path || !label.ok() || *label < 0 || folder[0] == '+' ||
            (folder.size() > 1 && folder[0] == '0')) {
          return InvalidArgumentError(source.root + "/" + file.path +
                                      ": expected a class-index folder (0, 1, 2, ...)");
        }
        if (!m.classes.empty() && *label >= static_cast<int>(m.classes.size())) {
          return InvalidArgumentError(source.root + "/" + folder + ": class " + folder +
                                      " is beyond the class list " + *source.classes_file);
        }
        file.labels = {*label};
        max_label = std::max(max_label, *label);
      }
      m.protocol.model_classes =
          m.classes.empty() ? max_label + 1 : static_cast<int>(m.classes.size());
      break;
    }
    case Layout::kLabelsFile: {
      if (!source.labels_file) {
        return InvalidArgumentError("the labels-file layout needs --labels FILE");
      }
      if (source.classes_file) {
        TW_ASSIGN_OR_RETURN(m.classes, ReadClassList(*source.classes_file));
      }
      TW_RETURN_IF_ERROR(AssignLabelsFromFile(source, &m));
      int max_label = -1;
      for (const auto& file : m.files) {
        for (int l : file.labels) max_label = std::max(max_label, l);
      }
      m.protocol.model_classes =
          m.classes.empty() ? std::max(max_label + 1, 1) : static_cast<int>(m.classes.size());
      for (const auto& file : m.files) {
        for (int l : file.labels) {
          if (l >= m.protocol.model_classes) {
            return InvalidArgumentError(*source.labels_file + ": label " + std::to_string(l) +
                                        " of " + file.path + " is beyond the class list");
          }
        }
      }
      break;
    }
  }

  if (source.subset_file) {
    TW_ASSIGN_OR_RETURN(auto entries, ReadClassList(*source.subset_file));
    std::map<std::string, int> index;
    for (size_t i = 0; i < m.classes.size(); ++i) index[m.classes[i]] = static_cast<int>(i);
    std::set<int> subset;
    for (const auto& entry : entries) {
      auto as_index = ParseInt(entry);
      int cls;
      if (as_index.ok()) {
        cls = *as_index;
      } else if (auto it = index.find(entry); it != index.end()) {
        cls = it->second;
      } else {
        return InvalidArgumentError(*source.subset_file + ": \"" + entry +
                                    "\" is neither a class index nor a class name");
      }
      if (cls < 0 || cls >= m.protocol.model_classes) {
        return InvalidArgumentError(*source.subset_file + ": class " + entry + " is out of range");
      }
      subset.insert(cls);
    }
    if (subset.size() < 5) {
      return InvalidArgumentError(*source.subset_file + ": a subset needs at least 5 classes");
    }
    m.protocol.subset.assign(subset.begin(), subset.end());
    for (const auto& file : m.files) {
      for (int l : file.labels) {
        if (!subset.count(l)) {
          return InvalidArgumentError(source.root + "/" + file.path + ": its class " +
                                      std::to_string(l) + " is not in the subset " +
                                      *source.subset_file);
        }
      }
    }
  }
  if (m.protocol.model_classes > kMaxClasses) {
    // Per-sample records keep class indices in 16 bits (scoring/records.h).
    return InvalidArgumentError(source.root + ": " + std::to_string(m.protocol.model_classes) +
                                " classes; at most " + std::to_string(kMaxClasses) +
                                " are supported");
  }
  TW_RETURN_IF_ERROR(HashFiles(source.root, &m.files, source.threads, source.progress));
  return m;
}

StatusOr<VerifyReport> VerifyDataset(const Manifest& manifest, const std::string& root, int threads,
                                     const std::function<void(size_t, size_t)>& progress) {
  TW_ASSIGN_OR_RETURN(std::vector<std::string> images, Walker(root).Images());
  VerifyReport report;
  std::set<std::string> on_disk(images.begin(), images.end());
  std::vector<ManifestFile> present;
  std::set<std::string> in_manifest;
  for (const auto& file : manifest.files) {
    in_manifest.insert(file.path);
    if (on_disk.count(file.path)) {
      present.push_back(ManifestFile{file.path, "", 0, {}, "", 0});
    } else {
      report.missing.push_back(file.path);
    }
  }
  for (const auto& path : images) {
    if (!in_manifest.count(path)) report.added.push_back(path);
  }
  TW_RETURN_IF_ERROR(HashFiles(root, &present, threads, progress));
  std::map<std::string, const ManifestFile*> expected;
  for (const auto& file : manifest.files) expected[file.path] = &file;
  for (const auto& file : present) {
    const ManifestFile* want = expected.at(file.path);
    if (want->sha256 != file.sha256 || want->size != file.size) report.changed.push_back(file.path);
  }
  report.checked = present.size();
  return report;
}

}  // namespace tw::datasets
