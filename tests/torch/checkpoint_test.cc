// Checkpoint loading against files written by the installed PyTorch (tests/torch/make_fixtures.py,
// run once per test binary into a temporary directory). Without PyTorch every test fails with
// the reason: a skipped checkpoint test would look like a passing one.
#include "eval/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "eval/state_dict.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::eval {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::tw::testing::StatusIs;

std::string FixtureScript() {
#ifdef TW_TORCH_FIXTURE_SCRIPT
  return TW_TORCH_FIXTURE_SCRIPT;
#else
  // The build passes an absolute __FILE__; a by-hand build from the repository root passes
  // "tests/torch/...", which resolves against the working directory.
  return (std::filesystem::path(__FILE__).parent_path() / "make_fixtures.py").string();
#endif
}

struct Fixtures {
  Fixtures() {
    const char* python_env = std::getenv("TW_PYTHON");
    const std::string python = python_env != nullptr ? python_env : "/usr/bin/python3";
    const std::string script = FixtureScript();
    const std::string log = dir.Sub("make_fixtures.log");
    const std::string command =
        "'" + python + "' '" + script + "' '" + dir.path() + "' > '" + log + "' 2>&1";
    const auto start = std::chrono::steady_clock::now();
    const int status = std::system(command.c_str());
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc != 0) {
      error = "generating the fixtures failed (" + command + ", exit status " + std::to_string(rc) +
              "):\n" + tw::testing::ReadTestFile(log) +
              "\nPyTorch for Python is needed: run scripts/setup (python3-torch, "
              "python3-torchvision; TW_PYTHON overrides /usr/bin/python3)";
    } else {
      std::fprintf(stderr, "[fixtures] %s in %.1f s\n", dir.path().c_str(), seconds);
    }
  }
  tw::testing::TempDir dir;
  std::string error;  // empty when the fixtures are there
  double seconds = 0;
};

const Fixtures& GetFixtures() {
  static Fixtures fixtures;
  return fixtures;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& error = GetFixtures().error;
    ASSERT_TRUE(error.empty()) << error;
  }

  static std::string Path(const std::string& name) { return GetFixtures().dir.Sub(name); }

  // Buffers of a scripted container module written by make_fixtures.py.
  static at::Tensor IoTensor(const std::string& file, const std::string& name) {
    return torch::jit::load(Path(file)).attr(name).toTensor();
  }

  static LoadOptions Options(bool optimize) {
    LoadOptions options;
    options.optimize = optimize;
    return options;
  }

  static double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
    return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
  }

  // Loads, runs the fixture's reference input, and returns the logits.
  static StatusOr<at::Tensor> Run(const std::string& file, const std::optional<std::string>& arch,
                                  const std::string& io_file, bool optimize) {
    TW_ASSIGN_OR_RETURN(LoadedModel model, LoadCheckpoint(Path(file), arch, Options(optimize)));
    return Forward(model, IoTensor(io_file, "input"));
  }

  // A copy of fixture `name` cut to its first half.
  static std::string Truncated(const std::string& name) {
    const std::string bytes = tw::testing::ReadTestFile(Path(name));
    const std::string path = Path("truncated_" + name);
    tw::testing::WriteTestFile(path, bytes.substr(0, bytes.size() / 2));
    return path;
  }
};

std::vector<std::string> Names(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.first);
  return names;
}

TEST_F(CheckpointTest, DetectsFormatsByContent) {
  EXPECT_EQ(*DetectCheckpointFormat(Path("tiny_script.pt")), CheckpointFormat::kTorchScript);
  EXPECT_EQ(*DetectCheckpointFormat(Path("tiny_sd.pt")), CheckpointFormat::kStateDict);
  EXPECT_EQ(*DetectCheckpointFormat(Path("tiny_sd_nested.pt")), CheckpointFormat::kStateDict);
  EXPECT_EQ(*DetectCheckpointFormat(Path("namespace.pt")), CheckpointFormat::kStateDict);
}

TEST_F(CheckpointTest, DetectRejectsWhatIsNotACheckpoint) {
  const std::string empty = Path("empty.pt");
  const std::string text = Path("notes.txt");
  tw::testing::WriteTestFile(empty, "");
  tw::testing::WriteTestFile(text, "epoch 3, loss 0.25\n");
  for (const std::string& path : {empty, text, Truncated("tiny_script.pt"), Truncated("tiny_sd.pt"),
                                  Path("tiny_sd_legacy.pt")}) {
    EXPECT_THAT(DetectCheckpointFormat(path),
                StatusIs(StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(path), HasSubstr("not a TorchScript or state-dict file"))))
        << path;
  }
  EXPECT_THAT(DetectCheckpointFormat(empty),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty file")));
  EXPECT_THAT(DetectCheckpointFormat(Truncated("tiny_script.pt")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("truncated or damaged zip")));
  EXPECT_THAT(
      DetectCheckpointFormat(Path("tiny_sd_legacy.pt")),
      StatusIs(StatusCode::kInvalidArgument,
               AllOf(HasSubstr("legacy"), HasSubstr("_use_new_zipfile_serialization=True"))));
  EXPECT_THAT(DetectCheckpointFormat(Path("no_such.pt")),
              StatusIs(StatusCode::kNotFound, HasSubstr("no_such.pt")));
  EXPECT_THAT(DetectCheckpointFormat(GetFixtures().dir.path()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is a directory")));
  EXPECT_THAT(DetectCheckpointFormat("/dev/null"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
}

TEST_F(CheckpointTest, ReadsOrderedDictStateDictInFileOrder) {
  TW_ASSERT_OK_AND_ASSIGN(auto tensors, ReadStateDict(Path("tiny_sd.pt")));
  std::vector<std::string> expected;
  std::istringstream names(tw::testing::ReadTestFile(Path("tiny_sd_names.txt")));
  for (std::string line; std::getline(names, line);) expected.push_back(line);
  ASSERT_EQ(expected.size(), 16u);
  EXPECT_EQ(Names(tensors), expected);

  // Same values as the scripted model the state dict came from.
  torch::jit::Module scripted = torch::jit::load(Path("tiny_script.pt"));
  std::map<std::string, at::Tensor> reference;
  for (const auto& p : scripted.named_parameters()) reference[p.name] = p.value;
  for (const auto& b : scripted.named_buffers()) reference[b.name] = b.value;
  for (const auto& [name, tensor] : tensors) {
    ASSERT_EQ(reference.count(name), 1u) << name;
    EXPECT_TRUE(tensor.is_cpu());
    EXPECT_EQ(tensor.scalar_type(), reference[name].scalar_type()) << name;
    EXPECT_TRUE(tensor.equal(reference[name])) << name;
  }
}

TEST_F(CheckpointTest, ReadsPlainNestedAndModelKeyStateDicts) {
  TW_ASSERT_OK_AND_ASSIGN(auto reference, ReadStateDict(Path("tiny_sd.pt")));
  for (const char* file : {"tiny_sd_plain.pt", "tiny_sd_nested.pt", "tiny_sd_model_key.pt"}) {
    TW_ASSERT_OK_AND_ASSIGN(auto tensors, ReadStateDict(Path(file)));
    ASSERT_EQ(Names(tensors), Names(reference)) << file;
    for (size_t i = 0; i < tensors.size(); ++i) {
      EXPECT_TRUE(tensors[i].second.equal(reference[i].second)) << file << " " << tensors[i].first;
    }
  }
  TW_ASSERT_OK_AND_ASSIGN(auto resnet, ReadStateDict(Path("resnet18_sd.pt")));
  ASSERT_EQ(resnet.size(), 122u);
  EXPECT_EQ(resnet.front().first, "conv1.weight");
  EXPECT_EQ(resnet.back().first, "fc.bias");
}

TEST_F(CheckpointTest, ReadStateDictErrorsNameFileAndReason) {
  EXPECT_THAT(ReadStateDict(Path("tiny_sd_legacy.pt")),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(Path("tiny_sd_legacy.pt") + ": not a torch zip archive"),
                             HasSubstr("legacy torch.save files are not supported"),
                             HasSubstr("_use_new_zipfile_serialization=True"))));
  EXPECT_THAT(
      ReadStateDict(Path("tiny_script.pt")),
      StatusIs(StatusCode::kInvalidArgument,
               HasSubstr(Path("tiny_script.pt") + " is a TorchScript archive, not a state dict")));
  EXPECT_THAT(ReadStateDict(Path("namespace.pt")),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(Path("namespace.pt")), HasSubstr("argparse.Namespace"),
                             HasSubstr("run code from the file"))));
  EXPECT_THAT(ReadStateDict(Path("pickled_module.pt")),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("__main__.TinyCnn"), HasSubstr("model.state_dict()"))));
  EXPECT_THAT(ReadStateDict(Path("no_tensors.pt")),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("no dict of tensors found"),
                             HasSubstr("top-level keys: epoch (int), loss (float)"))));
  EXPECT_THAT(ReadStateDict(Path("oversized_view.pt")),
              StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("w: tensor of shape [64]"),
                                                           HasSubstr("extends past its data"))));
  EXPECT_THAT(ReadStateDict(Truncated("tiny_sd.pt")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a torch zip archive")));
  EXPECT_THAT(ReadStateDict(Path("missing.pt")),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing.pt")));
}

TEST_F(CheckpointTest, TorchScriptMatchesPythonAndOptimizedAgrees) {
  const at::Tensor expected = IoTensor("tiny_io.pt", "output");
  TW_ASSERT_OK_AND_ASSIGN(LoadedModel plain,
                          LoadCheckpoint(Path("tiny_script.pt"), std::nullopt, Options(false)));
  EXPECT_EQ(plain.format, CheckpointFormat::kTorchScript);
  EXPECT_FALSE(plain.optimized);
  EXPECT_EQ(plain.parameters, 1610);  // conv1 224 + bn1 16 + conv2 1168 + bn2 32 + fc 170
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor logits, Forward(plain, IoTensor("tiny_io.pt", "input")));
  EXPECT_LE(MaxAbsDiff(logits, expected), 1e-5);

  TW_ASSERT_OK_AND_ASSIGN(LoadedModel optimized,
                          LoadCheckpoint(Path("tiny_script.pt"), std::nullopt, Options(true)));
  EXPECT_TRUE(optimized.optimized) << ::testing::PrintToString(optimized.notes);
  EXPECT_EQ(optimized.parameters, 1610);
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor fast, Forward(optimized, IoTensor("tiny_io.pt", "input")));
  EXPECT_LE(MaxAbsDiff(fast, logits), 1e-4);
}

TEST_F(CheckpointTest, StateDictCopiedIntoDifferentlyInitialisedArchMatchesPython) {
  const at::Tensor expected = IoTensor("tiny_io.pt", "output");
  // The arch on its own computes something else: the copy is what makes them equal.
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor arch_only,
                          Run("tiny_arch.pt", std::nullopt, "tiny_io.pt", false));
  EXPECT_GT(MaxAbsDiff(arch_only, expected), 1e-2);

  for (const char* file :
       {"tiny_sd.pt", "tiny_sd_plain.pt", "tiny_sd_nested.pt", "tiny_sd_model_key.pt"}) {
    TW_ASSERT_OK_AND_ASSIGN(LoadedModel model,
                            LoadCheckpoint(Path(file), Path("tiny_arch.pt"), Options(false)));
    EXPECT_EQ(model.format, CheckpointFormat::kStateDict);
    EXPECT_EQ(model.parameters, 1610);
    TW_ASSERT_OK_AND_ASSIGN(at::Tensor logits, Forward(model, IoTensor("tiny_io.pt", "input")));
    EXPECT_LE(MaxAbsDiff(logits, expected), 1e-5) << file;
  }
  // float16 weights convert into the float32 model (with float16's precision).
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor half,
                          Run("tiny_sd_half.pt", Path("tiny_arch.pt"), "tiny_io.pt", false));
  EXPECT_EQ(half.scalar_type(), at::kFloat);
  EXPECT_LE(MaxAbsDiff(half, expected), 2e-2);
}

TEST_F(CheckpointTest, Resnet18StateDictCopyMatchesPython) {
  const at::Tensor expected = IoTensor("resnet18_io.pt", "output");
  TW_ASSERT_OK_AND_ASSIGN(
      LoadedModel model,
      LoadCheckpoint(Path("resnet18_sd.pt"), Path("resnet18_arch.pt"), Options(false)));
  EXPECT_EQ(model.parameters, 11689512);
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor logits, Forward(model, IoTensor("resnet18_io.pt", "input")));
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LE(MaxAbsDiff(logits, expected), 1e-5);

  TW_ASSERT_OK_AND_ASSIGN(at::Tensor scripted,
                          Run("resnet18_script.pt", std::nullopt, "resnet18_io.pt", false));
  EXPECT_LE(MaxAbsDiff(scripted, expected), 1e-5);

  TW_ASSERT_OK_AND_ASSIGN(
      LoadedModel optimized,
      LoadCheckpoint(Path("resnet18_sd.pt"), Path("resnet18_arch.pt"), Options(true)));
  EXPECT_TRUE(optimized.optimized) << ::testing::PrintToString(optimized.notes);
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor fast, Forward(optimized, IoTensor("resnet18_io.pt", "input")));
  EXPECT_LE(MaxAbsDiff(fast, logits), 1e-4);
}

TEST_F(CheckpointTest, StateDictMismatchesAreNamed) {
  EXPECT_THAT(LoadCheckpoint(Path("tiny_sd_bad.pt"), Path("tiny_arch.pt"), Options(false)),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(Path("tiny_sd_bad.pt")), HasSubstr(Path("tiny_arch.pt")),
                             HasSubstr("1 missing (in the architecture, not in the file): "
                                       "bn2.running_var"),
                             HasSubstr("1 unexpected (in the file, not in the architecture): "
                                       "head.weight"),
                             HasSubstr("conv1.weight: file [8,3,5,5], model [8,3,3,3]"),
                             HasSubstr("fc.bias: file int64, model float32"))));
  // A resnet18 state dict into the tiny arch: long lists are cut at 10 names.
  EXPECT_THAT(LoadCheckpoint(Path("resnet18_sd.pt"), Path("tiny_arch.pt"), Options(false)),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("114 unexpected"), HasSubstr(", ... and 104 more"),
                             HasSubstr("8 missing"),
                             HasSubstr("fc.weight: file [1000,512], model [10,16]"))));
}

TEST_F(CheckpointTest, StateDictNeedsATorchScriptArch) {
  EXPECT_THAT(LoadCheckpoint(Path("tiny_sd.pt"), std::nullopt, Options(false)),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(Path("tiny_sd.pt") +
                                 " is a state dict: give its architecture with --arch")));
  EXPECT_THAT(
      LoadCheckpoint(Path("tiny_sd.pt"), Path("tiny_sd_plain.pt"), Options(false)),
      StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr(Path("tiny_sd_plain.pt")),
                                                   HasSubstr("needs a TorchScript architecture"))));
  EXPECT_THAT(LoadCheckpoint(Path("tiny_sd.pt"), Path("no_arch.pt"), Options(false)),
              StatusIs(StatusCode::kNotFound, HasSubstr("no_arch.pt")));
  TW_ASSERT_OK_AND_ASSIGN(LoadedModel model, LoadCheckpoint(Path("tiny_script.pt"),
                                                            Path("tiny_arch.pt"), Options(false)));
  EXPECT_THAT(model.notes, ::testing::ElementsAre(HasSubstr("ignored")));
}

TEST_F(CheckpointTest, LoadRejectsDamagedAndForeignFiles) {
  const std::string empty = Path("empty.pt");
  const std::string text = Path("notes.txt");
  tw::testing::WriteTestFile(empty, "");
  tw::testing::WriteTestFile(text, "not a model\n");
  for (const std::string& path : {empty, text, Truncated("tiny_script.pt"),
                                  Truncated("resnet18_sd.pt"), Path("tiny_sd_legacy.pt")}) {
    EXPECT_THAT(LoadCheckpoint(path, Path("tiny_arch.pt"), Options(true)),
                StatusIs(StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(path), HasSubstr("not a TorchScript or state-dict file"))))
        << path;
  }
  EXPECT_THAT(LoadCheckpoint(Path("namespace.pt"), Path("tiny_arch.pt"), Options(true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("argparse.Namespace")));
}

TEST_F(CheckpointTest, DeviceIsChecked) {
  LoadOptions options;
  options.device = "gpu0";
  EXPECT_THAT(LoadCheckpoint(Path("tiny_script.pt"), std::nullopt, options),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected cpu, cuda or cuda:N")));
  if (!at::hasCUDA()) {
    for (const char* device : {"cuda", "cuda:1"}) {
      options.device = device;
      EXPECT_THAT(LoadCheckpoint(Path("tiny_script.pt"), std::nullopt, options),
                  StatusIs(StatusCode::kFailedPrecondition,
                           HasSubstr("this build of transferwatch-eval has no CUDA")));
    }
  }
}

TEST_F(CheckpointTest, ForwardChecksTheOutput) {
  const at::Tensor input = IoTensor("tiny_io.pt", "input");  // [4, 3, 32, 32]
  TW_ASSERT_OK_AND_ASSIGN(LoadedModel three_d,
                          LoadCheckpoint(Path("out3d.pt"), std::nullopt, Options(true)));
  EXPECT_THAT(Forward(three_d, input),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("model output has shape [4,10,2], expected [N, classes] logits")));

  TW_ASSERT_OK_AND_ASSIGN(LoadedModel tuple,
                          LoadCheckpoint(Path("tuple_out.pt"), std::nullopt, Options(true)));
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor logits, Forward(tuple, input));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, 10}));

  // A wrong input: LibTorch's reason, in one line, without its C++ stack trace.
  TW_ASSERT_OK_AND_ASSIGN(LoadedModel tiny,
                          LoadCheckpoint(Path("tiny_script.pt"), std::nullopt, Options(false)));
  auto wrong = Forward(tiny, at::zeros({2, 1, 32, 32}));
  EXPECT_THAT(wrong, StatusIs(StatusCode::kInvalidArgument,
                              AllOf(HasSubstr("model forward failed on input [2,1,32,32]: "),
                                    HasSubstr("channels"), Not(HasSubstr("\n")),
                                    Not(HasSubstr("Exception raised from")))));
  EXPECT_THAT(Forward(tiny, at::zeros({3, 32, 32})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected [N, C, H, W]")));
}

// Malformed pickles must come back as errors before the Unpickler (which indexes its stack
// unchecked) sees them.
TEST(RewriteTorchSavePickleTest, RejectsMalformedPickles) {
  using namespace std::string_literals;  // NOLINT: "..."s keeps the NUL bytes
  struct Case {
    std::string pickle;
    const char* reason;
  };
  // Literals are split before a letter that follows a \x escape, which would otherwise read it
  // as a hex digit.
  const std::string proto = "\x80\x02"s;
  const std::vector<Case> cases = {
      {""s, "no PROTO"},
      {"\x80\x04}."s, "pickle protocol 4"},
      {proto + "\x86."s, "stack underflow"},                 // TUPLE2 on nothing
      {proto + "(\x85."s, "stack underflow"},                // MARK TUPLE1
      {proto + "K\x01K\x02s."s, "none on the stack"},        // SETITEM without a dict
      {proto + "]K\x01K\x02s."s, "not a dict"},              // SETITEM on a list
      {proto + "}(K\x01u."s, "odd number"},                  // SETITEMS key only
      {proto + "}q\x00h\x05."s, "unset slot"},               // BINGET of nothing
      {proto + "K\x01K\x02."s, "malformed pickle at STOP"},  // two values left
      {proto + "X\xff\x00\x00\x00"
               "ab."s,
       "truncated"},  // BINUNICODE too long
      {proto + "ccollections\nOrderedDict\nK\x01\x85R."s, "with arguments"},
      {proto + "ccollections\nOrderedDict\n."s, "callable"},
      {proto + "cos\nsystem\n."s, "os.system"},
      {proto + "\x95."s, "unsupported pickle opcode 0x95"},  // FRAME (protocol 4)
      {proto + "K\x01"
               "b."s,
       "stack underflow"},  // BUILD on nothing
      {proto + "]K\x01"
               "b."s,
       "BUILD of a Python object"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(internal::RewriteTorchSavePickle(c.pickle),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.reason)))
        << ::testing::PrintToString(c.pickle);
  }
}

TEST(RewriteTorchSavePickleTest, RewritesSingleItemFormsAndWideInts) {
  using namespace std::string_literals;  // NOLINT
  // {"a": 1} with SETITEM becomes MARK ... SETITEMS.
  TW_ASSERT_OK_AND_ASSIGN(std::string dict,
                          internal::RewriteTorchSavePickle("\x80\x02}q\x00X\x01\x00\x00\x00"
                                                           "aK\x01s."s));
  EXPECT_EQ(dict,
            "\x80\x02}q\x00(X\x01\x00\x00\x00"
            "aK\x01u."s);
  // [5_000_000_000] with APPEND and a 5-byte LONG1 becomes MARK ... APPENDS with 8 bytes.
  TW_ASSERT_OK_AND_ASSIGN(std::string list,
                          internal::RewriteTorchSavePickle("\x80\x02]\x8a\x05\x00\xf2\x05\x2a\x01"
                                                           "a."s));
  EXPECT_EQ(list,
            "\x80\x02](\x8a\x08\x00\xf2\x05\x2a\x01\x00\x00\x00"
            "e."s);
  // -1 in one byte sign-extends.
  TW_ASSERT_OK_AND_ASSIGN(std::string negative,
                          internal::RewriteTorchSavePickle("\x80\x02\x8a\x01\xff."s));
  EXPECT_EQ(negative, "\x80\x02\x8a\x08\xff\xff\xff\xff\xff\xff\xff\xff."s);
}

}  // namespace
}  // namespace tw::eval
