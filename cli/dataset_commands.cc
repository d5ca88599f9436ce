#include "cli/dataset_commands.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/progress.h"
#include "common/canonical_json.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/time_util.h"
#include "datasets/manifest.h"
#include "datasets/presets.h"
#include "datasets/scan.h"

namespace tw::cli {
namespace {

using datasets::Manifest;

// The folder's one canonical spelling: the evaluator merges datasets' files by absolute path,
// so the same images reached through a symlinked root must have the same paths.
StatusOr<std::string> CanonicalFolder(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) {
    return ErrnoToStatus(errno, "cannot open dataset folder " + path);
  }
  return std::string(buffer);
}

StatusOr<std::string> ProtocolSummary(const Manifest& m) {
  nlohmann::json protocol = {{"layout", datasets::LayoutName(m.layout)},
                             {"model_classes", m.protocol.model_classes},
                             {"multi_label", m.protocol.multi_label},
                             {"resize_and_crop", m.protocol.resize_and_crop},
                             {"subset_size", m.protocol.subset.size()}};
  return CanonicalJson(protocol);
}

const char* OutcomeText(RegistrationOutcome outcome) {
  switch (outcome) {
    case RegistrationOutcome::kCreated:
      return "registered";
    case RegistrationOutcome::kNewVersion:
      return "registered a new version of";
    case RegistrationOutcome::kUnchanged:
      return "already registered, unchanged:";
    case RegistrationOutcome::kAttached:
      return "attached files to the imported dataset";
  }
  return "";
}

// Registers one manifest and prints what happened.
Status Register(CommandContext& ctx, const std::string& name, const Manifest& manifest,
                const std::string& root, const std::optional<std::string>& reference,
                bool create_missing_reference, const std::string& default_config_json) {
  DatasetRegistration reg;
  reg.name = name;
  reg.reference = reference;
  reg.create_missing_reference = create_missing_reference;
  TW_ASSIGN_OR_RETURN(reg.protocol_json, ProtocolSummary(manifest));
  TW_ASSIGN_OR_RETURN(reg.manifest_canonical, datasets::ManifestToCanonicalJson(manifest));
  reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
  reg.files_sha256 = datasets::FilesDigest(manifest);
  reg.num_files = static_cast<int>(manifest.files.size());
  for (const auto& f : manifest.files) reg.total_bytes += static_cast<int64_t>(f.size);
  reg.root = root;
  reg.default_config_json = default_config_json;
  TW_ASSIGN_OR_RETURN(RegistrationResult result, ctx.store.RegisterDataset(reg));
  if (ctx.format == OutputFormat::kJson) {
    nlohmann::ordered_json doc = {{"name", name},
                                  {"version", result.version},
                                  {"outcome", OutcomeText(result.outcome)},
                                  {"manifest_sha256", reg.manifest_sha256},
                                  {"files", reg.num_files},
                                  {"bytes", reg.total_bytes},
                                  {"reference", reference ? nlohmann::ordered_json(*reference)
                                                          : nlohmann::ordered_json(nullptr)}};
    ctx.out << doc.dump() << "\n";
  } else {
    ctx.out << OutcomeText(result.outcome) << " " << name << " v" << result.version << ": "
            << WithThousands(reg.num_files) << " images, manifest "
            << reg.manifest_sha256.substr(0, 12)
            << (reference ? ", reference " + *reference : std::string()) << "\n";
  }
  return OkStatus();
}

StatusOr<Manifest> LoadManifest(Store& store, const std::string& manifest_sha256) {
  TW_ASSIGN_OR_RETURN(std::string text, store.GetManifest(manifest_sha256));
  return datasets::ManifestFromJson(text, "manifest " + manifest_sha256.substr(0, 12));
}

}  // namespace

void PreprocessingFlags::ApplyTo(EvalConfig* config) const {
  if (img_size) config->img_size = *img_size;
  if (crop_pct) config->crop_pct = *crop_pct;
  if (interpolation) config->interpolation = *interpolation;
  if (channels) {
    config->channels = *channels;
    if (*channels == 1 && mean.empty() && std.empty()) {
      // One channel with ImageNet's three-channel defaults is never meant: grey images are
      // normalised to [-1, 1] unless told otherwise.
      config->mean = {0.5};
      config->std = {0.5};
    }
  }
  if (!mean.empty()) config->mean = mean;
  if (!std.empty()) config->std = std;
}

Status DatasetAdd(CommandContext& ctx, const DatasetAddOptions& options) {
  datasets::DatasetSource source;
  TW_ASSIGN_OR_RETURN(source.root, CanonicalFolder(options.dir));
  std::optional<std::string> reference = options.reference;
  std::optional<datasets::Preset> preset;
  if (options.preset) {
    TW_ASSIGN_OR_RETURN(preset, datasets::FindPreset(*options.preset));
    std::string data = datasets::DataDir() + "/imagenet/";
    source.layout = preset->layout;
    if (preset->classes_file) source.classes_file = data + *preset->classes_file;
    if (preset->subset_file) source.subset_file = data + *preset->subset_file;
    if (preset->labels_file) source.labels_file = data + *preset->labels_file;
    if (!reference) reference = preset->reference;
  }
  // Explicit flags win over the preset's choices.
  if (options.layout) {
    TW_ASSIGN_OR_RETURN(source.layout, datasets::ParseLayout(*options.layout));
  }
  if (options.classes) source.classes_file = options.classes;
  if (options.subset) source.subset_file = options.subset;
  if (options.labels) source.labels_file = options.labels;
  if (!options.preset && !options.layout) {
    return InvalidArgumentError("dataset add needs --layout (or --preset)");
  }
  EvalConfig defaults;
  options.preprocessing.ApplyTo(&defaults);
  TW_RETURN_IF_ERROR(ValidateEvalConfig(defaults));
  if (reference && *reference == options.name) {
    return InvalidArgumentError("a dataset cannot be its own reference");
  }

  // A derived clean reference comes from the registered ImageNet val, before the dataset itself
  // (which names it as its reference).
  if (preset && preset->derived_reference) {
    auto base = ctx.store.GetDatasetVersion("imagenet");
    if (!base.ok()) {
      return FailedPreconditionError(
          "the " + preset->name + " preset derives " + *preset->derived_reference +
          " (ImageNet val restricted to its classes) from the registered imagenet dataset: "
          "register ImageNet val first with `transferwatch dataset add imagenet VALDIR --preset "
          "imagenet` (" +
          base.status().message() + ")");
    }
    TW_ASSIGN_OR_RETURN(Manifest base_manifest, LoadManifest(ctx.store, base->manifest_sha256));
    TW_ASSIGN_OR_RETURN(auto subset, datasets::ReadClassList(*source.subset_file));
    std::vector<int> indices;
    for (const auto& wnid : subset) {
      auto it = std::find(base_manifest.classes.begin(), base_manifest.classes.end(), wnid);
      if (it == base_manifest.classes.end()) {
        return InvalidArgumentError("class " + wnid + " of " + *source.subset_file +
                                    " is not among imagenet's classes");
      }
      indices.push_back(static_cast<int>(it - base_manifest.classes.begin()));
    }
    Manifest clean = datasets::DeriveSubsetManifest(base_manifest, indices);
    if (clean.files.empty()) {
      return FailedPreconditionError("imagenet has no images of the " + preset->name +
                                     " classes to derive " + *preset->derived_reference + " from");
    }
    TW_RETURN_IF_ERROR(Register(ctx, *preset->derived_reference, clean, base->root, "imagenet",
                                false, base->default_config_json));
  }

  ProgressLine progress("hashing " + options.name, "files", options.progress);
  source.threads = options.threads;
  source.progress = [&](size_t done, size_t total) {
    progress.Update(static_cast<int64_t>(done), static_cast<int64_t>(total));
  };
  auto manifest = datasets::ScanDataset(source);
  progress.Finish();
  if (!manifest.ok()) return manifest.status();
  // A preset's reference may be registered later; a --reference the user typed must exist.
  bool create_reference = !options.reference && preset && preset->reference;
  return Register(ctx, options.name, *manifest, source.root, reference, create_reference,
                  PreprocessingJson(defaults));
}

Status DatasetShow(CommandContext& ctx, const std::string& name) {
  TW_ASSIGN_OR_RETURN(DatasetInfo info, ctx.store.GetDataset(name));
  TW_ASSIGN_OR_RETURN(auto versions, ctx.store.ListDatasetVersions(name));
  Listing listing;
  listing.list_name = "versions";
  listing.columns = {{"name", "dataset"},
                     {"version", "version"},
                     {"manifest_sha256", "manifest"},
                     {"files", "files"},
                     {"bytes", "bytes"},
                     {"root", "root"},
                     {"default_config", "default config"},
                     {"created_at", "created"}};
  bool table = ctx.format == OutputFormat::kTable;
  for (const auto& v : versions) {
    listing.rows.push_back({v.name, v.version,
                            table ? v.manifest_sha256.substr(0, 12) : v.manifest_sha256,
                            v.num_files, v.total_bytes, v.root,
                            table ? nlohmann::json(v.default_config_json)
                                  : nlohmann::json::parse(v.default_config_json),
                            FormatIso8601Utc(v.created_at)});
  }
  if (table) {
    ctx.out << "dataset " << info.name << "  reference: " << info.reference.value_or("-")
            << "  evaluations: " << info.evaluations << "\nprotocol: " << info.protocol_json
            << "\n";
    if (versions.empty()) ctx.out << "no files registered (known from imported results)\n";
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status DatasetVerify(CommandContext& ctx, const std::string& name, int threads, bool progress) {
  TW_ASSIGN_OR_RETURN(DatasetVersionInfo version, ctx.store.GetDatasetVersion(name));
  TW_ASSIGN_OR_RETURN(Manifest manifest, LoadManifest(ctx.store, version.manifest_sha256));
  ProgressLine line("verifying " + name, "files", progress);
  auto report =
      datasets::VerifyDataset(manifest, version.root, threads, [&](size_t done, size_t total) {
        line.Update(static_cast<int64_t>(done), static_cast<int64_t>(total));
      });
  line.Finish();
  if (!report.ok()) return report.status();
  Listing listing;
  listing.list_name = "differences";
  listing.columns = {{"change", "change"}, {"path", "path"}};
  for (const auto& p : report->added) listing.rows.push_back({"added", p});
  for (const auto& p : report->missing) listing.rows.push_back({"missing", p});
  for (const auto& p : report->changed) listing.rows.push_back({"changed", p});
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << name << " v" << version.version << " in " << version.root << ": "
            << WithThousands(static_cast<int64_t>(report->checked)) << " files re-hashed, "
            << report->added.size() << " added, " << report->missing.size() << " missing, "
            << report->changed.size() << " changed\n";
    if (!report->ok()) ctx.out << RenderListing(listing, ctx.format);
  } else {
    ctx.out << RenderListing(listing, ctx.format);
  }
  if (!report->ok()) {
    return DataLossError(name +
                         " no longer matches its manifest: register it again with "
                         "`transferwatch dataset add` to make a new version");
  }
  return OkStatus();
}

Status DatasetRemove(CommandContext& ctx, const std::string& name) {
  TW_RETURN_IF_ERROR(ctx.store.RemoveDataset(name));
  ctx.out << "removed dataset " << name << "\n";
  return OkStatus();
}

}  // namespace tw::cli
