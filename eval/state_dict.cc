#include "eval/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <sys/stat.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <unordered_map>

namespace tw::eval {
namespace internal {
namespace {

std::string FirstLine(std::string_view text) {
  // Leading blank lines carry nothing; the first real line is the reason.
  size_t begin = text.find_first_not_of("\n\r ");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find('\n', begin);
  std::string line(text.substr(begin, end == std::string_view::npos ? end : end - begin));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

std::string ExceptionReason(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  // what() of a c10::Error ends with the C++ stack trace of the throw: no use to a user.
  std::string_view text = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  // An error raised inside TorchScript code reads "The following operation failed in the
  // TorchScript interpreter.\nTraceback of TorchScript ...\n<Type>Error: <reason>": the last
  // "...Error: " line is the reason.
  if (text.find("TorchScript interpreter") != std::string_view::npos ||
      text.find("Traceback of TorchScript") != std::string_view::npos) {
    size_t pos = text.size();
    while (pos > 0) {
      size_t line_start = text.rfind('\n', pos - 1);
      line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
      std::string_view line = text.substr(line_start, pos - line_start);
      size_t colon = line.find("Error: ");
      if (colon != std::string_view::npos &&
          line.find(' ') >= colon) {  // "RuntimeError: ...", not "  File ...: Error: "
        return FirstLine(line);
      }
      if (line_start == 0) break;
      pos = line_start - 1;
    }
  }
  std::string line = FirstLine(text);
  return line.empty() ? "unknown error" : line;
}

StatusOr<ArchiveProbe> ProbeArchive(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFoundError(path + ": no such file");
    if (errno == EACCES) return PermissionDeniedError(path + ": permission denied");
    return InvalidArgumentError(path + ": cannot stat: " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return InvalidArgumentError(path + " is a directory, not a file");
  // A FIFO or device could block or never end.
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(path + " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (::access(path.c_str(), R_OK) != 0 && errno == EACCES) {
      return PermissionDeniedError(path + ": permission denied");
    }
    return InvalidArgumentError(path + ": cannot open for reading");
  }
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, sizeof(magic));
  const std::streamsize got = in.gcount();
  in.close();

  ArchiveProbe probe;
  if (got == 0) {
    probe.reason = "empty file";
    return probe;
  }
  // Every zip PyTorch writes starts with a local file header. Checking first keeps arbitrary
  // files away from the zip reader and lets us recognise the legacy format: a bare pickle,
  // protocol 2, whose first value is a LONG1 magic number.
  if (got < 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    probe.legacy_torch_save = got >= 3 && static_cast<unsigned char>(magic[0]) == 0x80 &&
                              magic[1] == 2 && static_cast<unsigned char>(magic[2]) == 0x8a;
    probe.reason =
        probe.legacy_torch_save ? "a legacy (pre-1.6, non-zip) torch.save file" : "no zip header";
    return probe;
  }
  try {
    probe.reader = std::make_shared<caffe2::serialize::PyTorchStreamReader>(path);
    bool has_code = false;
    for (const std::string& name : probe.reader->getAllRecords()) {
      if (name.rfind("code/", 0) == 0 || name == "constants.pkl") has_code = true;
    }
    if (has_code) {
      probe.contents = ArchiveContents::kTorchScript;
    } else if (probe.reader->hasRecord("data.pkl")) {
      probe.contents = ArchiveContents::kTorchSave;
    } else {
      probe.contents = ArchiveContents::kOtherZip;
      probe.reason = "a zip archive with neither code/ (TorchScript) nor data.pkl (torch.save)";
    }
  } catch (const std::exception& e) {
    // Truncated copies land here ("failed finding central directory"), as do zips that are not
    // PyTorch's (no top-level folder, no version record).
    probe = ArchiveProbe();
    probe.reason = "truncated or damaged zip archive (" + ExceptionReason(e) + ")";
  }
  return probe;
}

namespace {

// Pickle opcodes (Python's Lib/pickle.py names) that protocol 2 uses for what torch.save writes.
enum Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kBinFloat = 'G',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinUnicode = 'X',
  kEmptyList = ']',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kSetItems = 'u',
  kEmptyDict = '}',
  kEmptyTuple = ')',
  kProto = 0x80,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
};

// What the rewriter needs to know about a stack item. Values are not tracked: the Unpickler
// checks their types itself (and throws); we only guarantee the structure it cannot check.
enum class Kind {
  kValue,              // anything that is data: scalars, strings, tuples, tensors, storages
  kDict,               // a dict (EMPTY_DICT or a rewritten OrderedDict)
  kList,               // a list
  kOrderedDictClass,   // collections.OrderedDict, not emitted: only `() REDUCE` may consume it
  kRebuildTensorFunc,  // torch._utils._rebuild_tensor_v2: only REDUCE may consume it
};

struct Item {
  Kind kind;
  size_t start;  // offset in the output where the opcodes producing this item begin
};

struct Mark {
  size_t stack_size;
  size_t start;  // offset of the MARK opcode in the output
};

class PickleRewriter {
 public:
  explicit PickleRewriter(std::string_view in) : in_(in) { out_.reserve(in.size() + 64); }

  StatusOr<std::string> Run() {
    uint8_t op = 0;
    if (!ReadByte(&op) || op != kProto) return Error("not a pickle (no PROTO opcode)");
    uint8_t protocol = 0;
    if (!ReadByte(&protocol)) return Truncated();
    if (protocol != 2) {
      return Error("pickle protocol " + std::to_string(protocol) +
                   " (only protocol 2, torch.save's default, is supported)");
    }
    out_.push_back(static_cast<char>(kProto));
    out_.push_back(2);
    while (true) {
      op_pos_ = pos_;
      if (!ReadByte(&op)) return Truncated();
      if (op == kStop) {
        if (!marks_.empty() || stack_.size() != 1) return Error("malformed pickle at STOP");
        if (stack_.back().kind == Kind::kOrderedDictClass ||
            stack_.back().kind == Kind::kRebuildTensorFunc) {
          return Error("the pickle holds a Python callable, not data");
        }
        out_.push_back(static_cast<char>(kStop));
        return std::move(out_);
      }
      TW_RETURN_IF_ERROR(Step(op));
    }
  }

 private:
  Status Step(uint8_t op) {
    switch (op) {
      case kMark:
        marks_.push_back({stack_.size(), out_.size()});
        Emit(op);
        return OkStatus();
      case kNone:
      case kNewTrue:
      case kNewFalse:
        return PushCopied(0);
      case kBinInt1:
        return PushCopied(1);
      case kBinInt2:
        return PushCopied(2);
      case kBinInt:
        return PushCopied(4);
      case kBinFloat:
        return PushCopied(8);
      case kBinUnicode: {
        std::string_view length_bytes;
        if (!Read(4, &length_bytes)) return Truncated();
        uint32_t length = 0;
        std::memcpy(&length, length_bytes.data(), 4);
        pos_ = op_pos_ + 1;  // PushCopied copies the opcode and its whole argument
        return PushCopied(4 + static_cast<size_t>(length));
      }
      case kLong1:
        return Long1();
      case kEmptyDict:
        return PushEmitted(op, Kind::kDict);
      case kEmptyList:
        return PushEmitted(op, Kind::kList);
      case kEmptyTuple:
        return PushEmitted(op, Kind::kValue);
      case kTuple: {
        TW_RETURN_IF_ERROR(PopToMark());
        Mark mark = marks_.back();
        marks_.pop_back();
        stack_.resize(mark.stack_size);
        Emit(op);
        stack_.push_back({Kind::kValue, mark.start});
        return OkStatus();
      }
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        Item first{};
        for (int i = op - kTuple1; i >= 0; --i) TW_RETURN_IF_ERROR(PopValue(&first));
        Emit(op);
        stack_.push_back({Kind::kValue, first.start});
        return OkStatus();
      }
      case kBinPut:
      case kLongBinPut:
        return Put(op);
      case kBinGet:
      case kLongBinGet:
        return Get(op);
      case kGlobal:
        return Global();
      case kReduce:
        return Reduce();
      case kBinPersId: {
        Item id{};
        TW_RETURN_IF_ERROR(PopValue(&id));
        Emit(op);
        stack_.push_back({Kind::kValue, id.start});
        return OkStatus();
      }
      case kSetItem:
      case kAppend: {
        // The Unpickler only has the batch forms: `MARK key value SETITEMS`. The MARK goes where
        // the key (or list item) begins; nothing above it is still on the stack, so inserting a
        // byte there moves no offset that is still needed.
        Item value{}, key{};
        TW_RETURN_IF_ERROR(PopValue(&value));
        if (op == kSetItem) TW_RETURN_IF_ERROR(PopValue(&key));
        const Item& first = op == kSetItem ? key : value;
        TW_RETURN_IF_ERROR(CheckTarget(op == kSetItem ? Kind::kDict : Kind::kList));
        out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(first.start),
                    static_cast<char>(kMark));
        Emit(op == kSetItem ? kSetItems : kAppends);
        return OkStatus();
      }
      case kSetItems:
      case kAppends: {
        TW_RETURN_IF_ERROR(PopToMark());
        Mark mark = marks_.back();
        marks_.pop_back();
        // (an odd count would make the Unpickler read past its stack)
        if (op == kSetItems && (stack_.size() - mark.stack_size) % 2 != 0) {
          return Error("SETITEMS with an odd number of items");
        }
        stack_.resize(mark.stack_size);
        TW_RETURN_IF_ERROR(CheckTarget(op == kSetItems ? Kind::kDict : Kind::kList));
        Emit(op);
        return OkStatus();
      }
      case kBuild:
        return Build();
      default:
        return Error("unsupported pickle opcode " + OpName(op));
    }
  }

  // REDUCE: `<OrderedDict> ()` becomes EMPTY_DICT (Python's OrderedDict pickles its items
  // separately, with SETITEMS, so the empty call is all there is); `<_rebuild_tensor_v2> args`
  // stays. Nothing else may be called.
  Status Reduce() {
    Item args{}, callable{};
    TW_RETURN_IF_ERROR(PopValue(&args));
    TW_RETURN_IF_ERROR(Pop(&callable));
    if (callable.kind == Kind::kOrderedDictClass) {
      // The class emitted nothing, so exactly one EMPTY_TUPLE byte follows its position.
      if (out_.size() != callable.start + 1 || static_cast<uint8_t>(out_.back()) != kEmptyTuple) {
        return Error("collections.OrderedDict called with arguments");
      }
      out_.resize(callable.start);
      Emit(kEmptyDict);
      stack_.push_back({Kind::kDict, callable.start});
      return OkStatus();
    }
    if (callable.kind == Kind::kRebuildTensorFunc) {
      Emit(kReduce);
      stack_.push_back({Kind::kValue, callable.start});
      return OkStatus();
    }
    return Error("REDUCE calls something that is not a known function");
  }

  // BUILD sets an object's state; torch.save only uses it to attach `_metadata` to a state
  // dict's OrderedDict. The Unpickler treats BUILD as a call, so we turn `dict state` into the
  // tuple (dict, state, kBuildSentinel) and ReadStateDict keeps the dict. The dict was memoized
  // before BUILD, so later references to it get the dict itself.
  Status Build() {
    Item state{};
    TW_RETURN_IF_ERROR(PopValue(&state));
    Item dict{};
    TW_RETURN_IF_ERROR(PopValue(&dict));
    if (dict.kind != Kind::kDict) {
      return Error("BUILD of a Python object's state (only an OrderedDict's _metadata is read)");
    }
    Emit(kBinUnicode);
    const uint32_t length = static_cast<uint32_t>(kBuildSentinel.size());
    out_.append(reinterpret_cast<const char*>(&length), 4);
    out_.append(kBuildSentinel);
    Emit(kTuple3);
    stack_.push_back({Kind::kValue, dict.start});
    return OkStatus();
  }

  Status Global() {
    std::string module, name;
    if (!ReadLine(&module) || !ReadLine(&name)) return Truncated();
    const size_t start = out_.size();
    if (module == "collections" && name == "OrderedDict") {
      stack_.push_back({Kind::kOrderedDictClass, start});  // emitted as EMPTY_DICT at REDUCE
      return OkStatus();
    }
    const bool rebuild = module == "torch._utils" && name == "_rebuild_tensor_v2";
    // torch.FloatStorage and friends: the dtype of a tensor's storage (the Unpickler maps them
    // to a ScalarType and rejects names it does not know).
    const bool storage =
        module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0;
    if (!rebuild && !storage) {
      std::string message =
          "the pickle refers to the Python object " + module + "." + name +
          "; only tensors and plain containers (dict, OrderedDict, list, tuple, str, int, float, "
          "bool, None) are read, because loading anything else would run code from the file";
      if (module.rfind("torch.nn", 0) == 0 || module == "__main__") {
        message += " (a whole pickled nn.Module? save model.state_dict() instead)";
      }
      return InvalidArgumentError(message);
    }
    out_.append(in_.substr(op_pos_, pos_ - op_pos_));
    stack_.push_back({rebuild ? Kind::kRebuildTensorFunc : Kind::kValue, start});
    return OkStatus();
  }

  Status Put(uint8_t op) {
    uint32_t slot = 0;
    TW_RETURN_IF_ERROR(ReadMemoSlot(op == kLongBinPut ? 4 : 1, &slot));
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back().stack_size)) {
      return Error("memo put with an empty stack");
    }
    const Item& top = stack_.back();
    memo_[slot] = top.kind;
    // The OrderedDict class is not on the Unpickler's stack, so it is not memoized there either;
    // every later BINGET of it is dropped too.
    if (top.kind != Kind::kOrderedDictClass) out_.append(in_.substr(op_pos_, pos_ - op_pos_));
    return OkStatus();
  }

  Status Get(uint8_t op) {
    uint32_t slot = 0;
    TW_RETURN_IF_ERROR(ReadMemoSlot(op == kLongBinGet ? 4 : 1, &slot));
    auto it = memo_.find(slot);
    if (it == memo_.end()) return Error("memo get of an unset slot");
    const size_t start = out_.size();
    if (it->second != Kind::kOrderedDictClass) out_.append(in_.substr(op_pos_, pos_ - op_pos_));
    stack_.push_back({it->second, start});
    return OkStatus();
  }

  // Python writes ints beyond 32 bits as LONG1 with the fewest bytes; the Unpickler only takes
  // 8, so sign-extend.
  Status Long1() {
    uint8_t length = 0;
    if (!ReadByte(&length)) return Truncated();
    std::string_view bytes;
    if (!Read(length, &bytes)) return Truncated();
    if (length > 8) return Error("integer wider than 64 bits");
    uint8_t extended[8];
    const bool negative = length > 0 && (static_cast<uint8_t>(bytes[length - 1]) & 0x80) != 0;
    std::memset(extended, negative ? 0xff : 0, sizeof(extended));
    std::memcpy(extended, bytes.data(), length);
    const size_t start = out_.size();
    Emit(kLong1);
    out_.push_back(8);
    out_.append(reinterpret_cast<const char*>(extended), 8);
    stack_.push_back({Kind::kValue, start});
    return OkStatus();
  }

  Status ReadMemoSlot(size_t width, uint32_t* slot) {
    std::string_view bytes;
    if (!Read(width, &bytes)) return Truncated();
    *slot = 0;
    std::memcpy(slot, bytes.data(), width);
    // The Unpickler sizes its memo table by the largest slot; a sane pickle never has more slots
    // than bytes.
    if (*slot > in_.size()) return Error("memo slot out of range");
    return OkStatus();
  }

  // The container a SETITEM(S)/APPEND(S) adds to: on top of the stack, in the current mark frame.
  Status CheckTarget(Kind kind) {
    const size_t floor = marks_.empty() ? 0 : marks_.back().stack_size;
    if (stack_.size() <= floor) return Error("add to a container with none on the stack");
    if (stack_.back().kind != kind) {
      return Error(kind == Kind::kDict ? "SETITEM on something that is not a dict"
                                       : "APPEND on something that is not a list");
    }
    return OkStatus();
  }

  // Checks what a MARK-terminated opcode consumes; leaves the popping to the caller.
  Status PopToMark() {
    if (marks_.empty()) return Error("container opcode without MARK");
    for (size_t i = marks_.back().stack_size; i < stack_.size(); ++i) {
      if (stack_[i].kind == Kind::kOrderedDictClass || stack_[i].kind == Kind::kRebuildTensorFunc) {
        return Error("a Python callable used as a value");
      }
    }
    if (stack_.size() < marks_.back().stack_size) return Error("malformed MARK");
    return OkStatus();
  }

  // Python's unpickler cannot pop below the last MARK (each MARK starts a new stack); the
  // Unpickler does not check, so we must.
  Status Pop(Item* item) {
    const size_t floor = marks_.empty() ? 0 : marks_.back().stack_size;
    if (stack_.size() <= floor) return Error("pickle stack underflow");
    *item = stack_.back();
    stack_.pop_back();
    return OkStatus();
  }
  Status PopValue(Item* item) {
    TW_RETURN_IF_ERROR(Pop(item));
    if (item->kind == Kind::kOrderedDictClass || item->kind == Kind::kRebuildTensorFunc) {
      return Error("a Python callable used as a value");
    }
    return OkStatus();
  }

  // Copies the current opcode and its `arg_size`-byte argument, pushing a value.
  Status PushCopied(size_t arg_size) {
    std::string_view arg;
    if (!Read(arg_size, &arg)) return Truncated();
    stack_.push_back({Kind::kValue, out_.size()});
    out_.append(in_.substr(op_pos_, pos_ - op_pos_));
    return OkStatus();
  }
  Status PushEmitted(uint8_t op, Kind kind) {
    stack_.push_back({kind, out_.size()});
    Emit(op);
    return OkStatus();
  }

  void Emit(uint8_t op) { out_.push_back(static_cast<char>(op)); }

  bool ReadByte(uint8_t* byte) {
    if (pos_ >= in_.size()) return false;
    *byte = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool Read(size_t n, std::string_view* bytes) {
    if (n > in_.size() - pos_) return false;
    *bytes = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool ReadLine(std::string* line) {
    size_t end = in_.find('\n', pos_);
    if (end == std::string_view::npos || end - pos_ > 256) return false;
    *line = std::string(in_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }

  static std::string OpName(uint8_t op) {
    static const char kHex[] = "0123456789abcdef";
    std::string name = "0x";
    name += kHex[op >> 4];
    name += kHex[op & 15];
    if (op >= 0x20 && op < 0x7f) name += std::string(" ('") + static_cast<char>(op) + "')";
    return name;
  }
  Status Error(const std::string& what) const {
    return InvalidArgumentError("data.pkl: " + what + " at byte " + std::to_string(op_pos_));
  }
  Status Truncated() const { return Error("truncated pickle"); }

  std::string_view in_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;  // offset of the opcode being rewritten
  std::string out_;
  std::vector<Item> stack_;
  std::vector<Mark> marks_;
  std::unordered_map<uint32_t, Kind> memo_;
};

}  // namespace

StatusOr<std::string> RewriteTorchSavePickle(std::string_view pickle) {
  return PickleRewriter(pickle).Run();
}

}  // namespace internal

namespace {

using internal::ArchiveContents;
using internal::ExceptionReason;

// A rewritten BUILD left (dict, state, sentinel): the dict is the value.
c10::IValue UnwrapBuild(const c10::IValue& value) {
  if (!value.isTuple()) return value;
  const auto& elements = value.toTupleRef().elements();
  if (elements.size() == 3 && elements[2].isString() &&
      elements[2].toStringRef() == internal::kBuildSentinel) {
    return UnwrapBuild(elements[0]);
  }
  return value;
}

std::string PythonTypeName(const c10::IValue& value) {
  if (value.isTensor()) return "Tensor";
  if (value.isInt()) return "int";
  if (value.isDouble()) return "float";
  if (value.isBool()) return "bool";
  if (value.isString()) return "str";
  if (value.isNone()) return "None";
  if (value.isGenericDict()) return "dict";
  if (value.isList()) return "list";
  if (value.isTuple()) return "tuple";
  return value.tagKind();
}

bool IsTensorDict(const c10::IValue& value) {
  if (!value.isGenericDict()) return false;
  const auto dict = value.toGenericDict();
  if (dict.empty()) return false;
  for (const auto& entry : dict) {
    if (!entry.key().isString() || !entry.value().isTensor()) return false;
  }
  return true;
}

// A checked multiply-add for the extent of a tensor view, in elements.
bool AddProduct(int64_t a, int64_t b, int64_t* sum) {
  int64_t product = 0;
  return !__builtin_mul_overflow(a, b, &product) && !__builtin_add_overflow(*sum, product, sum);
}

// The Unpickler takes a tensor's size, stride and offset from the pickle and its storage's size
// from the pickle too, without comparing them with the bytes actually in the zip record: a
// damaged file could make it read past the record. Every tensor we return is checked against
// the record it came from.
Status CheckTensorBytes(const std::string& name, const at::Tensor& tensor,
                        const std::unordered_map<const void*, size_t>& record_bytes) {
  if (tensor.numel() == 0) return OkStatus();
  if (!tensor.is_cpu() || tensor.layout() != c10::kStrided) {
    return InvalidArgumentError(name + ": not a dense CPU tensor");
  }
  int64_t last = tensor.storage_offset();
  bool ok = last >= 0;
  for (int64_t d = 0; ok && d < tensor.dim(); ++d) {
    ok = tensor.stride(d) >= 0 && AddProduct(tensor.size(d) - 1, tensor.stride(d), &last);
  }
  int64_t needed = 0;
  ok = ok && AddProduct(last + 1, static_cast<int64_t>(tensor.element_size()), &needed);
  auto record = record_bytes.find(tensor.storage().data());
  if (!ok || record == record_bytes.end() || static_cast<uint64_t>(needed) > record->second ||
      static_cast<uint64_t>(needed) > tensor.storage().nbytes()) {
    return InvalidArgumentError(name + ": tensor of shape " + c10::str(tensor.sizes()) +
                                " extends past its data in the archive (damaged file)");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, at::Tensor>>> ReadStateDict(const std::string& path) {
  TW_ASSIGN_OR_RETURN(internal::ArchiveProbe probe, internal::ProbeArchive(path));
  switch (probe.contents) {
    case ArchiveContents::kNotZip:
      return InvalidArgumentError(path + ": not a torch zip archive: " + probe.reason +
                                  " (legacy torch.save files are not supported; re-save with "
                                  "torch.save(..., _use_new_zipfile_serialization=True))");
    case ArchiveContents::kTorchScript:
      return InvalidArgumentError(path + " is a TorchScript archive, not a state dict");
    case ArchiveContents::kOtherZip:
      return InvalidArgumentError(path + ": not a torch.save file: " + probe.reason);
    case ArchiveContents::kTorchSave:
      break;
  }
  caffe2::serialize::PyTorchStreamReader& zip = *probe.reader;
  c10::IValue root;
  std::unordered_map<const void*, size_t> record_bytes;
  try {
    at::DataPtr pickle_data;
    size_t pickle_size = 0;
    std::tie(pickle_data, pickle_size) = zip.getRecord("data.pkl");
    StatusOr<std::string> rewritten = internal::RewriteTorchSavePickle(
        std::string_view(static_cast<const char*>(pickle_data.get()), pickle_size));
    if (!rewritten.ok()) return rewritten.status().WithContext(path);

    const std::string& pickle = *rewritten;
    size_t offset = 0;
    auto reader = [&pickle, &offset](char* buffer, size_t length) -> size_t {
      length = std::min(length, pickle.size() - offset);
      std::memcpy(buffer, pickle.data() + offset, length);
      offset += length;
      return length;
    };
    auto read_record = [&zip, &record_bytes](const std::string& key) {
      at::DataPtr data;
      size_t size = 0;
      std::tie(data, size) = zip.getRecord("data/" + key);
      record_bytes[data.get()] = size;
      return data;
    };
    // No type resolver and no object loader: a class the rewriter let through (none should)
    // would make the Unpickler throw rather than build it. The device maps tensors saved from a
    // GPU to the CPU.
    torch::jit::Unpickler unpickler(reader, /*type_resolver=*/nullptr, /*obj_loader=*/nullptr,
                                    read_record, c10::Device(c10::kCPU));
    unpickler.set_version(zip.version());
    root = UnwrapBuild(unpickler.parse_ivalue());
  } catch (const std::exception& e) {
    return InvalidArgumentError(path + ": cannot read the state dict: " + ExceptionReason(e));
  }

  try {
    if (!root.isGenericDict()) {
      return InvalidArgumentError(path + ": holds a " + PythonTypeName(root) +
                                  ", not a dict of tensors");
    }
    c10::IValue chosen;
    if (IsTensorDict(root)) {
      chosen = root;
    } else {
      const auto top = root.toGenericDict();
      for (const char* key : {"state_dict", "model"}) {
        auto it = top.find(c10::IValue(std::string(key)));
        if (it != top.end() && IsTensorDict(UnwrapBuild(it->value()))) {
          chosen = UnwrapBuild(it->value());
          break;
        }
      }
      if (chosen.isNone()) {
        std::string keys;
        size_t listed = 0;
        for (const auto& entry : top) {
          if (listed == 10) break;
          if (listed++ > 0) keys += ", ";
          keys += entry.key().isString() ? entry.key().toStringRef() : "<non-str key>";
          keys += " (" + PythonTypeName(UnwrapBuild(entry.value())) + ")";
        }
        if (top.size() > 10) keys += ", ... and " + std::to_string(top.size() - 10) + " more";
        return InvalidArgumentError(
            path + ": no dict of tensors found (a state dict is a dict of tensors, at the top " +
            "level or under \"state_dict\" or \"model\"); top-level keys: " +
            (keys.empty() ? "none" : keys));
      }
    }
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    const auto dict = chosen.toGenericDict();
    tensors.reserve(dict.size());
    for (const auto& entry : dict) {
      const std::string& name = entry.key().toStringRef();
      at::Tensor tensor = entry.value().toTensor();
      Status bytes_ok = CheckTensorBytes(name, tensor, record_bytes);
      if (!bytes_ok.ok()) return bytes_ok.WithContext(path);
      tensors.emplace_back(name, std::move(tensor));
    }
    return tensors;
  } catch (const std::exception& e) {
    return InvalidArgumentError(path + ": cannot read the state dict: " + ExceptionReason(e));
  }
}

}  // namespace tw::eval
