// Status and StatusOr<T>: how every fallible function in TransferWatch reports failure.
//
// Modelled on Abseil's canonical codes, at the size of LevelDB's status.h. Our code does not
// throw; exceptions from libraries (libpqxx, toml++, std::filesystem, LibTorch) are caught in the
// one adapter file that calls the library and turned into a Status there.
//
// Which code to use:
//   kInvalidArgument   the caller's input is wrong whatever the system's state (a bad flag, a
//                      malformed CSV row, a config key of the wrong type). CLI exit code 2.
//   kNotFound          a named thing does not exist (checkpoint, dataset, file). Exit code 3.
//   kAlreadyExists     a create found the thing there already with different content.
//   kFailedPrecondition the system is not in the state the operation needs (an applied
//                      migration was edited, the schema is newer than this program).
//   kUnavailable       a dependency is down or unreachable and retrying may help (PostgreSQL not
//                      reachable, the embedded cluster failed to start). Exit code 4.
//   kDeadlineExceeded  a bounded wait ran out.
//   kPermissionDenied  the OS refused (file modes, a user who cannot reach a directory).
//   kDataLoss          stored or received data is corrupt (hash mismatch, truncated file).
//   kInternal          an invariant of our own broke: a bug.
//   kUnknown           a library failed in a way we could not classify.
//
// Thread safety: a Status is a value; const methods may be called concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tw {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,
  kDeadlineExceeded,
  kPermissionDenied,
  kDataLoss,
  kInternal,
  kUnknown,
  kCancelled,  // stopped on request (a shutdown, an operator's cancel)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND: dataset 'foo' is not registered"; "OK" for success.
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>". OK stays OK.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }
  friend bool operator!=(const Status& a, const Status& b) { return !(a == b); }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status PermissionDeniedError(std::string message);
Status DataLossError(std::string message);
Status InternalError(std::string message);
Status UnknownError(std::string message);
Status CancelledError(std::string message);

// Either a value or a non-OK Status. Accessing the value of an error is a bug (kInternal
// assertion: the process aborts with the status printed), so check ok() first.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const T& value) : value_(value) {}             // NOLINT: implicit by design
  StatusOr(T&& value) : value_(std::move(value)) {}       // NOLINT
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an OK status");
  }
  template <typename U, typename = std::enable_if_t<std::is_convertible_v<U&&, T> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  StatusOr(U&& value) : value_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T& value() & {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void CheckOk() const;

  Status status_;  // OK exactly when value_ holds a value.
  std::optional<T> value_;
};

namespace internal {
[[noreturn]] void DieOnBadStatusOrAccess(const Status& status);
}  // namespace internal

template <typename T>
void StatusOr<T>::CheckOk() const {
  if (!value_.has_value()) internal::DieOnBadStatusOrAccess(status_);
}

}  // namespace tw

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define TW_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::tw::Status tw_status_ = (expr);        \
    if (!tw_status_.ok()) return tw_status_; \
  } while (false)

#define TW_STATUS_CONCAT_INNER_(a, b) a##b
#define TW_STATUS_CONCAT_(a, b) TW_STATUS_CONCAT_INNER_(a, b)

// `TW_ASSIGN_OR_RETURN(auto x, Foo());` declares x from Foo()'s value, or returns its status.
// It expands to several statements: never use it as the body of an if without braces.
#define TW_ASSIGN_OR_RETURN(lhs, expr) \
  TW_ASSIGN_OR_RETURN_IMPL_(TW_STATUS_CONCAT_(tw_statusor_, __LINE__), lhs, expr)
#define TW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
