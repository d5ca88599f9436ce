// Builds small zip archives shaped like torch files, with libzip, for the watch tests.
#pragma once

#include <zip.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace tw::testing {

using ZipEntries = std::vector<std::pair<std::string, std::string>>;  // name -> contents

// Writes a zip holding `entries` to `path`, stored (not compressed) as torch.save does, unless
// another `method` (ZIP_CM_DEFLATE) is asked for.
inline bool WriteZip(const std::string& path, const ZipEntries& entries,
                     zip_int32_t method = ZIP_CM_STORE) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive == nullptr) return false;
  for (const auto& [name, contents] : entries) {
    zip_source_t* source = zip_source_buffer(archive, contents.data(), contents.size(), 0);
    if (source == nullptr) return false;
    zip_int64_t index = zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      return false;
    }
    zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), method, 0);
  }
  return zip_close(archive) == 0;
}

inline ZipEntries TorchScriptEntries(const std::string& payload = "weights") {
  return {{"model/data.pkl", "\x80\x02}q\x00."},
          {"model/code/__torch__/net.py", "class Net(Module):\n  pass\n"},
          {"model/constants.pkl", "\x80\x02)."},
          {"model/data/0", payload},
          {"model/version", "3\n"}};
}

inline ZipEntries StateDictEntries(const std::string& payload = "weights") {
  return {{"archive/data.pkl", "\x80\x02}q\x00."},
          {"archive/data/0", payload},
          {"archive/version", "3\n"},
          {"archive/byteorder", "little"}};
}

// The bytes of a zip built by WriteZip.
inline std::string ZipBytes(const TempDir& dir, const ZipEntries& entries) {
  const std::string path = dir.Sub("zip-fixture.tmp");
  if (!WriteZip(path, entries)) return "";
  return ReadTestFile(path);
}

// torch.save(obj, f, _use_new_zipfile_serialization=False) begins with the pickled magic number.
inline std::string LegacyPickleBytes() {
  return std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e", 15) +
         std::string("\x80\x02M\xe9\x03.", 6) + std::string(200, 'x');
}

}  // namespace tw::testing
