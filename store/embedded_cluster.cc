#include "store/embedded_cluster.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/logging.h"
#include "common/process.h"
#include "common/sha256.h"

extern char** environ;

namespace tw {
namespace {

// The socket lives in a private directory, so the port only names the socket file.
constexpr int kSocketPort = 5432;
constexpr const char* kSuperuser = "transferwatch";
constexpr const char* kDatabase = "transferwatch";
// sockaddr_un.sun_path is 108 bytes including the NUL; the file is "/.s.PGSQL.5432".
constexpr size_t kMaxSocketDirLength = 107 - 14;
constexpr std::chrono::seconds kPgCtlWait{60};

struct Paths {
  std::string pg_dir, data_dir, log_file, initialized_marker, control_lock, users_lock, pinned;
};

Paths PathsFor(const std::string& state_dir) {
  Paths p;
  p.pg_dir = state_dir + "/pg";
  p.data_dir = p.pg_dir + "/data";
  p.log_file = p.pg_dir + "/server.log";
  p.initialized_marker = p.pg_dir + "/initialized";
  p.control_lock = state_dir + "/pg-control.lock";
  p.users_lock = state_dir + "/pg-users.lock";
  p.pinned = state_dir + "/pg-pinned";
  return p;
}

std::string SocketDirFor(const std::string& state_dir, uid_t cluster_uid) {
  std::string preferred = state_dir + "/pg/socket";
  if (preferred.size() <= kMaxSocketDirLength) return preferred;
  // Too long for a socket address: a short private directory, stable for this state dir.
  return "/tmp/tw-" + std::to_string(cluster_uid) + "-" + Sha256Hex(state_dir).substr(0, 12);
}

StatusOr<struct stat> Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot stat " + path);
  return st;
}

// The newest installed PostgreSQL >= 13, or the one that created an existing cluster.
StatusOr<std::string> FindPgBinDir(const EmbeddedClusterOptions& options,
                                   const std::string& data_dir) {
  if (!options.pg_bin_dir.empty()) return options.pg_bin_dir;
  std::string wanted;
  auto version_file = ReadFileToString(data_dir + "/PG_VERSION", 64);
  if (version_file.ok()) {
    wanted = *version_file;
    wanted.erase(std::remove(wanted.begin(), wanted.end(), '\n'), wanted.end());
    std::string dir = "/usr/lib/postgresql/" + wanted + "/bin";
    if (PathExists(dir + "/postgres")) return dir;
    return FailedPreconditionError(
        "the embedded cluster in " + data_dir + " was created by PostgreSQL " + wanted +
        ", whose server is not installed (package postgresql-" + wanted + ")");
  }
  int best = 0;
  if (DIR* dir = ::opendir("/usr/lib/postgresql")) {
    while (struct dirent* entry = ::readdir(dir)) {
      int version = std::atoi(entry->d_name);
      std::string bin = std::string("/usr/lib/postgresql/") + entry->d_name + "/bin";
      if (version >= 13 && version > best && PathExists(bin + "/initdb")) best = version;
    }
    ::closedir(dir);
  }
  if (best == 0) {
    return FailedPreconditionError(
        "no PostgreSQL server (13 or newer) is installed for the embedded database: install "
        "postgresql (scripts/setup does), or configure a database URL");
  }
  return "/usr/lib/postgresql/" + std::to_string(best) + "/bin";
}

// Whether `user` may search (x) every directory from / down to `path`.
Status CheckUserCanReach(const UserIdentity& user, const std::string& path) {
  int ngroups = 64;
  std::vector<gid_t> groups(ngroups);
  if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &ngroups) < 0) {
    groups.resize(ngroups);
    ::getgrouplist(user.name.c_str(), user.gid, groups.data(), &ngroups);
  }
  groups.resize(std::max(ngroups, 0));
  for (const auto& prefix : PathPrefixes(path)) {
    struct stat st {};
    if (::stat(prefix.c_str(), &st) != 0) break;  // created later, with modes we choose
    mode_t bit = S_IXOTH;
    if (st.st_uid == user.uid) {
      bit = S_IXUSR;
    } else if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
      bit = S_IXGRP;
    }
    if ((st.st_mode & bit) == 0) {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return PermissionDeniedError(
          "the embedded PostgreSQL runs as user '" + user.name +
          "' (initdb and postgres refuse root), who cannot reach " + path + ": " + prefix +
          " has mode " + mode +
          ". Use a state directory that user can reach (--state-dir, TRANSFERWATCH_HOME; the "
          "default for root is /var/lib/transferwatch) or set database.embedded_user");
    }
  }
  return OkStatus();
}

class ClusterOps {
 public:
  ClusterOps(EmbeddedClusterOptions options, EmbeddedClusterState state,
             std::optional<UserIdentity> run_as)
      : options_(std::move(options)), state_(std::move(state)), run_as_(std::move(run_as)) {}

  const EmbeddedClusterState& state() const { return state_; }

  StatusOr<ProcessResult> Run(std::vector<std::string> argv) {
    ProcessSpec spec;
    argv[0] = state_.pg_bin_dir + "/" + argv[0];
    spec.argv = std::move(argv);
    spec.run_as = run_as_;
    // A working directory the cluster user can enter (not root's home), and a locale that
    // always exists, so initdb does not depend on the caller's environment.
    spec.working_directory = PathsFor(state_.state_dir).pg_dir;
    // No libpq or server variable of the caller's (PGHOST, PGHOSTADDR, PGOPTIONS...) applies.
    spec.env = {"LC_ALL=C.UTF-8", "LANG=C.UTF-8"};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "PG", 2) == 0) {
        std::string entry(*e);
        spec.env.push_back(entry.substr(0, entry.find('=')));
      }
    }
    spec.timeout = kPgCtlWait + std::chrono::seconds(30);
    return RunProcess(spec);
  }

  StatusOr<bool> IsRunning() {
    if (!PathExists(state_.data_dir + "/PG_VERSION")) return false;
    TW_ASSIGN_OR_RETURN(ProcessResult result, Run({"pg_ctl", "status", "-D", state_.data_dir}));
    if (result.exit_code == 0) return true;
    if (result.exit_code == 3) return false;
    return UnavailableError("pg_ctl status " + result.Describe() + ": " + result.output);
  }

  Status WriteServerSettings() {
    // Rewritten at every start: the socket directory follows the state directory.
    auto quote = [](const std::string& v) {
      std::string out = "'";
      for (char c : v) out += (c == '\'') ? std::string("''") : std::string(1, c);
      return out + "'";
    };
    std::string conf =
        "# Written by TransferWatch at every start of the embedded cluster; do not edit.\n"
        "listen_addresses = ''\n"
        "unix_socket_directories = " +
        quote(state_.socket_dir) +
        "\n"
        "unix_socket_permissions = 0700\n"
        "port = " +
        std::to_string(kSocketPort) +
        "\n"
        "fsync = " +
        (options_.fsync ? "on" : "off") +
        "\n"
        "synchronous_commit = " +
        (options_.fsync ? "on" : "off") +
        "\n"
        "full_page_writes = " +
        (options_.fsync ? "on" : "off") +
        "\n"
        "max_connections = 100\n"
        "log_min_messages = warning\n"
        "log_line_prefix = '%m [%p] '\n";
    return WriteClusterFile(state_.data_dir + "/transferwatch.conf", conf);
  }

  // Writes a file inside the cluster's directories, owned by the cluster user.
  Status WriteClusterFile(const std::string& path, const std::string& contents) {
    TW_RETURN_IF_ERROR(WriteFileAtomic(path, contents, 0600));
    if (run_as_ && ::chown(path.c_str(), run_as_->uid, run_as_->gid) != 0) {
      return ErrnoToStatus(errno, "cannot give " + path + " to " + run_as_->name);
    }
    return OkStatus();
  }

  // The socket directory must be a private directory of the cluster user: in /tmp (long state
  // paths) anyone could have created it first, to squat the socket or impersonate the server.
  Status EnsureSocketDir() {
    uid_t owner = run_as_ ? run_as_->uid : ::geteuid();
    const std::string& dir = state_.socket_dir;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
      if (errno != ENOENT) return ErrnoToStatus(errno, "cannot inspect socket directory " + dir);
      if (::mkdir(dir.c_str(), 0700) != 0) {
        return ErrnoToStatus(errno, "cannot create socket directory " + dir);
      }
      if (run_as_ && ::chown(dir.c_str(), run_as_->uid, run_as_->gid) != 0) {
        return ErrnoToStatus(errno, "cannot give " + dir + " to " + run_as_->name);
      }
      if (::lstat(dir.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot inspect " + dir);
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != owner || (st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return PermissionDeniedError(
          "socket directory " + dir + " is not a private directory of uid " +
          std::to_string(owner) + " (it is " + (S_ISLNK(st.st_mode) ? "a symlink" : "mode ") +
          (S_ISLNK(st.st_mode) ? "" : mode) + ", owner uid " + std::to_string(st.st_uid) +
          "); someone else may have created it: remove it, or use a shorter --state-dir");
    }
    return OkStatus();
  }

  Status Start() {
    TW_RETURN_IF_ERROR(EnsureSocketDir());
    TW_RETURN_IF_ERROR(WriteServerSettings());
    auto paths = PathsFor(state_.state_dir);
    TW_ASSIGN_OR_RETURN(ProcessResult result,
                        Run({"pg_ctl", "start", "-D", state_.data_dir, "-l", paths.log_file, "-w",
                             "-t", std::to_string(kPgCtlWait.count()), "-s"}));
    if (!result.ok()) {
      return UnavailableError("the embedded PostgreSQL did not start (pg_ctl " + result.Describe() +
                              "): " + Trim(result.output) + LogTail(paths.log_file));
    }
    Logger("embedded")->info("started the embedded PostgreSQL in {}", state_.data_dir);
    return OkStatus();
  }

  Status StopServer() {
    TW_ASSIGN_OR_RETURN(ProcessResult result,
                        Run({"pg_ctl", "stop", "-D", state_.data_dir, "-m", "fast", "-w", "-t",
                             std::to_string(kPgCtlWait.count()), "-s"}));
    if (!result.ok()) {
      TW_ASSIGN_OR_RETURN(bool running, IsRunning());
      if (!running) return OkStatus();  // It stopped meanwhile (a concurrent `db stop --force`).
      return UnavailableError("could not stop the embedded PostgreSQL (pg_ctl " +
                              result.Describe() + "): " + Trim(result.output));
    }
    Logger("embedded")->info("stopped the embedded PostgreSQL in {}", state_.data_dir);
    return OkStatus();
  }

  Status Initialize() {
    auto paths = PathsFor(state_.state_dir);
    if (PathExists(paths.initialized_marker)) return OkStatus();
    // No marker: nothing or a half-made cluster from an interrupted first run (it never held
    // data: the marker is written before anything else may use it). Start from scratch.
    if (PathExists(state_.data_dir)) {
      TW_ASSIGN_OR_RETURN(bool running, IsRunning());
      if (running) TW_RETURN_IF_ERROR(StopServer());
      std::error_code ec;
      std::filesystem::remove_all(state_.data_dir, ec);
      if (ec) return UnknownError("cannot remove " + state_.data_dir + ": " + ec.message());
    }
    Logger("embedded")->info("creating the embedded PostgreSQL cluster in {}", state_.data_dir);
    std::vector<std::string> initdb = {"initdb",
                                       "-D",
                                       state_.data_dir,
                                       "-U",
                                       kSuperuser,
                                       "--auth-local=trust",
                                       "--auth-host=reject",
                                       "-E",
                                       "UTF8",
                                       "--locale=C.UTF-8"};
    if (!options_.fsync) initdb.push_back("--no-sync");
    TW_ASSIGN_OR_RETURN(ProcessResult result, Run(initdb));
    if (!result.ok()) {
      return UnavailableError("initdb " + result.Describe() + ": " + Trim(result.output));
    }
    auto conf = ReadFileToString(state_.data_dir + "/postgresql.conf", 1 << 20);
    if (!conf.ok()) return conf.status();
    TW_RETURN_IF_ERROR(WriteClusterFile(state_.data_dir + "/postgresql.conf",
                                        *conf + "\ninclude_if_exists = 'transferwatch.conf'\n"));
    TW_RETURN_IF_ERROR(Start());
    TW_ASSIGN_OR_RETURN(result, Run({"createdb", "-h", state_.socket_dir, "-p",
                                     std::to_string(kSocketPort), "-U", kSuperuser, kDatabase}));
    if (!result.ok()) {
      return UnavailableError("createdb " + result.Describe() + ": " + Trim(result.output));
    }
    return WriteFileAtomic(paths.initialized_marker, "1\n", 0644);
  }

 private:
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  static std::string LogTail(const std::string& log_file) {
    auto log = ReadFileToString(log_file, 64 << 20);
    if (!log.ok() || log->empty()) return "";
    std::string text = *log;
    if (text.size() > 1500) text = text.substr(text.size() - 1500);
    return "\n--- last lines of " + log_file + " ---\n" + Trim(text);
  }

  EmbeddedClusterOptions options_;
  EmbeddedClusterState state_;
  std::optional<UserIdentity> run_as_;
};

// Works out who runs the cluster, where its files are, and prepares the directories.
StatusOr<ClusterOps> Prepare(const EmbeddedClusterOptions& given, bool create_dirs) {
  if (given.state_dir.empty() || given.state_dir[0] != '/') {
    return InvalidArgumentError("the state directory must be an absolute path, not \"" +
                                given.state_dir + "\"");
  }
  EmbeddedClusterOptions options = given;
  if (create_dirs) {
    TW_RETURN_IF_ERROR(MakeDirs(options.state_dir, ::geteuid() == 0 ? 0755 : 0700));
  }
  // One spelling per directory (symlinks, "/./"): the socket directory is derived from it.
  char canonical[PATH_MAX];
  if (::realpath(options.state_dir.c_str(), canonical) != nullptr) options.state_dir = canonical;
  Paths paths = PathsFor(options.state_dir);
  TW_ASSIGN_OR_RETURN(UserIdentity me, CurrentUser());
  std::optional<UserIdentity> run_as;
  UserIdentity cluster_user = me;
  if (me.uid == 0) {
    auto existing = Stat(paths.pg_dir);
    if (existing.ok() && existing->st_uid != 0) {
      auto pw = ::getpwuid(existing->st_uid);
      if (pw == nullptr) {
        return FailedPreconditionError(paths.pg_dir + " belongs to uid " +
                                       std::to_string(existing->st_uid) +
                                       ", which has no passwd entry");
      }
      TW_ASSIGN_OR_RETURN(cluster_user, LookupUser(pw->pw_name));
    } else if (options.cluster_user) {
      TW_ASSIGN_OR_RETURN(cluster_user, LookupUser(*options.cluster_user));
    } else {
      auto tw_user = LookupUser("transferwatch");
      if (tw_user.ok()) {
        cluster_user = *tw_user;
      } else {
        auto postgres = LookupUser("postgres");
        if (!postgres.ok()) {
          return FailedPreconditionError(
              "running as root, the embedded PostgreSQL needs an unprivileged user to run as, "
              "and neither 'transferwatch' nor 'postgres' exists: create one or set "
              "database.embedded_user");
        }
        cluster_user = *postgres;
      }
    }
    if (cluster_user.uid == 0) {
      return InvalidArgumentError("the embedded PostgreSQL cannot run as root (user '" +
                                  cluster_user.name + "')");
    }
    run_as = cluster_user;
  } else {
    auto existing = Stat(paths.pg_dir);
    if (existing.ok() && existing->st_uid != me.uid) {
      auto pw = ::getpwuid(existing->st_uid);
      return PermissionDeniedError(
          paths.pg_dir + " belongs to " +
          (pw ? std::string(pw->pw_name) : "uid " + std::to_string(existing->st_uid)) +
          ", not to " + me.name + ": use that account or another state directory");
    }
  }

  if (create_dirs) {
    if (run_as) TW_RETURN_IF_ERROR(CheckUserCanReach(*run_as, options.state_dir));
    if (!PathExists(paths.pg_dir)) {
      if (::mkdir(paths.pg_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return ErrnoToStatus(errno, "cannot create " + paths.pg_dir);
      }
      if (run_as && ::chown(paths.pg_dir.c_str(), run_as->uid, run_as->gid) != 0) {
        return ErrnoToStatus(errno, "cannot give " + paths.pg_dir + " to " + run_as->name);
      }
    }
  }

  EmbeddedClusterState state;
  state.state_dir = options.state_dir;
  state.data_dir = paths.data_dir;
  state.cluster_user = cluster_user.name;
  state.socket_dir = SocketDirFor(options.state_dir, cluster_user.uid);
  TW_ASSIGN_OR_RETURN(state.pg_bin_dir, FindPgBinDir(options, paths.data_dir));
  state.initialized = PathExists(paths.initialized_marker);
  state.pinned = PathExists(paths.pinned);
  // Every connection setting that libpq could otherwise take from the environment is explicit
  // (PGHOSTADDR would turn this into a TCP connection, PGOPTIONS change the session).
  state.conninfo = "host=" + ConninfoQuote(state.socket_dir) +
                   " port=" + std::to_string(kSocketPort) + " user=" + kSuperuser +
                   " dbname=" + kDatabase +
                   " hostaddr='' options='' sslmode=disable connect_timeout=10";
  return ClusterOps(options, std::move(state), run_as);
}

}  // namespace

std::string ConninfoQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

EmbeddedCluster::EmbeddedCluster(EmbeddedClusterOptions options, EmbeddedClusterState state,
                                 FileLock users)
    : options_(std::move(options)), state_(std::move(state)), users_lock_(std::move(users)) {}

namespace {

// The control lock, held while the cluster is started or stopped. A wait that runs out means
// another process is stuck starting or stopping it: the database is unavailable to us.
StatusOr<FileLock> LockControl(const Paths& paths, std::chrono::milliseconds timeout) {
  auto lock = FileLock::Acquire(paths.control_lock, FileLock::Mode::kExclusive, timeout);
  if (!lock.ok() && lock.status().code() == StatusCode::kDeadlineExceeded) {
    return UnavailableError("the embedded PostgreSQL is busy: " + lock.status().message());
  }
  return lock;
}

}  // namespace

StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Acquire(
    const EmbeddedClusterOptions& options) {
  TW_ASSIGN_OR_RETURN(ClusterOps ops, Prepare(options, /*create_dirs=*/true));
  Paths paths = PathsFor(ops.state().state_dir);
  TW_ASSIGN_OR_RETURN(FileLock control, LockControl(paths, options.lock_timeout));
  TW_RETURN_IF_ERROR(ops.Initialize());
  TW_ASSIGN_OR_RETURN(bool running, ops.IsRunning());
  if (!running) TW_RETURN_IF_ERROR(ops.Start());
  // Nobody holds pg-users.lock exclusively without the control lock, which we hold.
  TW_ASSIGN_OR_RETURN(FileLock users,
                      FileLock::TryAcquire(paths.users_lock, FileLock::Mode::kShared));
  EmbeddedClusterState state = ops.state();
  state.initialized = true;
  state.running = true;
  EmbeddedClusterOptions canonical = options;
  canonical.state_dir = state.state_dir;
  return std::unique_ptr<EmbeddedCluster>(
      new EmbeddedCluster(canonical, std::move(state), std::move(users)));
}

StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::AttachIfRunning(
    const EmbeddedClusterOptions& options) {
  TW_ASSIGN_OR_RETURN(ClusterOps ops, Prepare(options, /*create_dirs=*/false));
  Paths paths = PathsFor(ops.state().state_dir);
  if (!PathExists(paths.initialized_marker)) return std::unique_ptr<EmbeddedCluster>();
  TW_ASSIGN_OR_RETURN(FileLock control, LockControl(paths, options.lock_timeout));
  TW_ASSIGN_OR_RETURN(bool running, ops.IsRunning());
  if (!running) return std::unique_ptr<EmbeddedCluster>();
  TW_ASSIGN_OR_RETURN(FileLock users,
                      FileLock::TryAcquire(paths.users_lock, FileLock::Mode::kShared));
  EmbeddedClusterState state = ops.state();
  state.running = true;
  EmbeddedClusterOptions canonical = options;
  canonical.state_dir = state.state_dir;
  return std::unique_ptr<EmbeddedCluster>(
      new EmbeddedCluster(canonical, std::move(state), std::move(users)));
}

StatusOr<EmbeddedClusterState> EmbeddedCluster::Inspect(const EmbeddedClusterOptions& options) {
  TW_ASSIGN_OR_RETURN(ClusterOps ops, Prepare(options, /*create_dirs=*/false));
  EmbeddedClusterState state = ops.state();
  if (PathExists(state.data_dir)) {
    TW_ASSIGN_OR_RETURN(state.running, ops.IsRunning());
  }
  return state;
}

Status EmbeddedCluster::Pin() {
  TW_RETURN_IF_ERROR(WriteFileAtomic(PathsFor(options_.state_dir).pinned, "1\n", 0644));
  state_.pinned = true;
  return OkStatus();
}

StatusOr<bool> EmbeddedCluster::Stop(const EmbeddedClusterOptions& options, bool force) {
  if (!PathExists(options.state_dir)) return true;
  TW_ASSIGN_OR_RETURN(ClusterOps ops, Prepare(options, /*create_dirs=*/false));
  Paths paths = PathsFor(ops.state().state_dir);
  TW_ASSIGN_OR_RETURN(FileLock control, LockControl(paths, options.lock_timeout));
  if (::unlink(paths.pinned.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, "cannot remove " + paths.pinned);
  }
  TW_ASSIGN_OR_RETURN(bool running, ops.IsRunning());
  if (!running) return true;
  auto idle = FileLock::TryAcquire(paths.users_lock, FileLock::Mode::kExclusive);
  if (!idle.ok() && !force) return false;
  TW_RETURN_IF_ERROR(ops.StopServer());
  return true;
}

Status EmbeddedCluster::Leave() {
  if (left_) return OkStatus();
  left_ = true;
  Paths paths = PathsFor(options_.state_dir);
  TW_ASSIGN_OR_RETURN(FileLock control, LockControl(paths, options_.lock_timeout));
  users_lock_.Release();
  auto idle = FileLock::TryAcquire(paths.users_lock, FileLock::Mode::kExclusive);
  if (!idle.ok() || PathExists(paths.pinned)) return OkStatus();  // still in use, or pinned
  TW_ASSIGN_OR_RETURN(ClusterOps ops, Prepare(options_, /*create_dirs=*/false));
  TW_ASSIGN_OR_RETURN(bool running, ops.IsRunning());
  if (!running) return OkStatus();
  return ops.StopServer();
}

EmbeddedCluster::~EmbeddedCluster() {
  Status status = Leave();
  if (!status.ok()) {
    Logger("embedded")->warn("leaving the embedded PostgreSQL: {}", status.ToString());
  }
}

}  // namespace tw
