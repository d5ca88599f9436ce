#include "store/pg_backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/file_util.h"
#include "common/process.h"
#include "store/pg_internal.h"

namespace tw {
namespace {

using pg::PgCall;

// Where the schema goes while a restore replaces it: dropped after success, renamed back after a
// failure. One that exists already is the only copy of an interrupted restore's old data.
constexpr const char* kReplacedSchema = "tw_before_restore";

// The tools' connection: every setting but the password as a conninfo for --dbname, the password
// as PGPASSWORD, so that it never appears in the child's argv.
struct ToolConnection {
  std::string dbname_arg;
  std::vector<std::string> env;
};

std::string QuoteConninfoValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

StatusOr<ToolConnection> ToolConnectionFor(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return InvalidArgumentError("invalid database URL or conninfo: " + message);
  }
  ToolConnection out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string keyword = o->keyword;
    if (keyword == "password") {
      out.env.push_back(std::string("PGPASSWORD=") + o->val);
      continue;
    }
    if (!out.dbname_arg.empty()) out.dbname_arg += ' ';
    out.dbname_arg += keyword + "=" + QuoteConninfoValue(o->val);
  }
  PQconninfoFree(options);
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

StatusOr<ProcessResult> RunTool(const std::string& bin_dir, const std::string& tool,
                                std::vector<std::string> args, const ToolConnection& connection,
                                std::chrono::milliseconds timeout) {
  ProcessSpec spec;
  spec.argv = {bin_dir + "/" + tool};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = connection.env;
  spec.timeout = timeout;
  spec.max_output_bytes = 64 << 10;
  auto result = RunProcess(spec);
  if (!result.ok() && result.status().code() == StatusCode::kNotFound) {
    return FailedPreconditionError(tool + " is not installed in " + bin_dir +
                                   " (package postgresql-client): " + result.status().message());
  }
  return result;
}

StatusOr<int64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "cannot stat " + path);
  return static_cast<int64_t>(st.st_size);
}

// An empty file of mode 0600 that pg_dump then fills: fopen("wb") keeps an existing file's mode,
// and the dump holds the webhook secrets in clear.
Status CreatePrivateFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, "cannot remove the stale " + path);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "cannot create " + path);
  ::close(fd);
  return OkStatus();
}

Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "cannot open " + path);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return ErrnoToStatus(saved, "cannot fsync " + path);
  return OkStatus();
}

// NotFound, or InvalidArgument for a file that is not a TransferWatch custom-format archive.
Status CheckArchive(const RestoreOptions& options, const ToolConnection& connection) {
  const std::string& file = options.file;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError("no such backup file: " + file);
    return ErrnoToStatus(errno, "cannot read " + file);
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(file + " is not a regular file");
  char head[5] = {};
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "cannot read " + file);
  ssize_t n = ::read(fd, head, sizeof(head));
  ::close(fd);
  if (n != 5 || std::string(head, 5) != "PGDMP") {
    return InvalidArgumentError(
        file +
        " is not a pg_dump custom-format archive (it does not start with PGDMP); "
        "`transferwatch db backup` writes one, as does pg_dump --format=custom");
  }
  TW_ASSIGN_OR_RETURN(ProcessResult list, RunTool(options.pg_bin_dir, "pg_restore",
                                                  {"--list", file}, connection, options.timeout));
  if (!list.ok()) {
    return InvalidArgumentError(file + " cannot be read by pg_restore (" + list.Describe() +
                                "): " + Trim(list.output));
  }
  if (list.output.find(" TABLE tw schema_migrations ") == std::string::npos) {
    return InvalidArgumentError(file +
                                " is a pg_dump archive, but not of a TransferWatch database (it "
                                "has no table tw.schema_migrations)");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::string> PostgresBinDirFor(int server_major) {
  auto has_tools = [](const std::string& bin) {
    return PathExists(bin + "/pg_dump") && PathExists(bin + "/pg_restore");
  };
  std::string exact = "/usr/lib/postgresql/" + std::to_string(server_major) + "/bin";
  if (has_tools(exact)) return exact;
  int best = 0;
  if (DIR* dir = ::opendir("/usr/lib/postgresql")) {
    while (struct dirent* entry = ::readdir(dir)) {
      int version = std::atoi(entry->d_name);
      std::string bin = std::string("/usr/lib/postgresql/") + entry->d_name + "/bin";
      if (version >= 13 && version > best && has_tools(bin)) best = version;
    }
    ::closedir(dir);
  }
  if (best == 0) {
    return FailedPreconditionError(
        "pg_dump and pg_restore are not installed (no /usr/lib/postgresql/N/bin with them): "
        "install postgresql-client-" +
        std::to_string(server_major));
  }
  // An older pg_dump refuses a newer server with a clear message of its own.
  return "/usr/lib/postgresql/" + std::to_string(best) + "/bin";
}

StatusOr<int> ServerMajorVersion(const std::string& conninfo) {
  return PgCall("reading the server version", [&]() -> StatusOr<int> {
    pqxx::connection conn(conninfo);
    return conn.server_version() / 10000;
  });
}

StatusOr<BackupResult> BackupDatabase(const BackupOptions& options) {
  if (options.file.empty()) return InvalidArgumentError("the backup file name is empty");
  if (!options.overwrite && PathExists(options.file)) {
    return AlreadyExistsError(options.file +
                              " exists; choose another name, or --force to "
                              "replace it");
  }
  TW_ASSIGN_OR_RETURN(ToolConnection connection, ToolConnectionFor(options.conninfo));
  const std::string tmp = options.file + ".tmp";
  TW_RETURN_IF_ERROR(CreatePrivateFile(tmp));
  auto started = std::chrono::steady_clock::now();
  auto dump = RunTool(
      options.pg_bin_dir, "pg_dump",
      {"--format=custom", "--schema=tw", "--file=" + tmp, "--dbname=" + connection.dbname_arg},
      connection, options.timeout);
  auto fail = [&](Status status) {
    ::unlink(tmp.c_str());
    return status;
  };
  if (!dump.ok()) return fail(dump.status());
  if (!dump->ok()) {
    return fail(UnavailableError("pg_dump " + dump->Describe() + ": " + Trim(dump->output)));
  }
  if (Status synced = SyncFile(tmp); !synced.ok()) return fail(synced);
  // RENAME_NOREPLACE: a file that appeared meanwhile is not overwritten without --force either.
  unsigned flags = options.overwrite ? 0 : RENAME_NOREPLACE;
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, options.file.c_str(), flags) != 0) {
    int err = errno;
    if (err == EEXIST) {
      return fail(AlreadyExistsError(options.file + " exists; choose another name, or --force"));
    }
    return fail(ErrnoToStatus(err, "cannot rename " + tmp + " to " + options.file));
  }
  BackupResult result;
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  TW_ASSIGN_OR_RETURN(result.bytes, FileSize(options.file));
  return result;
}

StatusOr<RestoreResult> RestoreDatabase(const RestoreOptions& options) {
  TW_ASSIGN_OR_RETURN(ToolConnection connection, ToolConnectionFor(options.conninfo));
  TW_RETURN_IF_ERROR(CheckArchive(options, connection));
  RestoreResult result;
  auto started = std::chrono::steady_clock::now();

  // What the target holds in the schema tw now; an empty schema (no object at all) goes quietly.
  TW_ASSIGN_OR_RETURN(
      result.replaced_tables, PgCall("inspecting the target database", [&]() -> StatusOr<int> {
        pqxx::connection conn(options.conninfo);
        pqxx::work tx(conn);
        if (!tx.exec1("SELECT to_regnamespace('" + std::string(kReplacedSchema) + "') IS NULL")[0]
                 .as<bool>()) {
          return FailedPreconditionError(
              "the target database has a schema " + std::string(kReplacedSchema) +
              ", left by an interrupted restore: it may hold the only copy of the data that "
              "restore "
              "replaced. Check it, then drop or rename it, and restore again");
        }
        bool has_schema = !tx.exec1("SELECT to_regnamespace('tw') IS NULL")[0].as<bool>();
        if (!has_schema) return 0;
        int objects =
            tx.exec1("SELECT count(*) FROM pg_class WHERE relnamespace = 'tw'::regnamespace")[0]
                .as<int>();
        int tables =
            tx.exec1("SELECT count(*) FROM pg_tables WHERE schemaname = 'tw'")[0].as<int>();
        if (objects == 0) {
          tx.exec0("DROP SCHEMA tw RESTRICT");
          tx.commit();
          return 0;
        }
        if (!options.replace) {
          return FailedPreconditionError(
              "the target database already has TransferWatch data (" + std::to_string(tables) +
              " tables in the schema tw): restore only into an empty database, or --force to "
              "replace that schema and everything in it");
        }
        tx.exec0("ALTER SCHEMA tw RENAME TO " + std::string(kReplacedSchema));
        tx.commit();
        return tables;
      }));
  const bool renamed_aside = result.replaced_tables > 0;

  auto restore = RunTool(options.pg_bin_dir, "pg_restore",
                         {"--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
                          "--dbname=" + connection.dbname_arg, options.file},
                         connection, options.timeout);
  Status failed = restore.ok() ? OkStatus() : restore.status();
  if (failed.ok() && !restore->ok()) {
    failed =
        FailedPreconditionError("pg_restore " + restore->Describe() + ": " + Trim(restore->output));
  }
  Status settled = PgCall("settling the replaced schema", [&] {
    if (!renamed_aside) return OkStatus();
    pqxx::connection conn(options.conninfo);
    pqxx::work tx(conn);
    if (failed.ok()) {
      tx.exec0("DROP SCHEMA " + std::string(kReplacedSchema) + " CASCADE");
    } else {
      tx.exec0("ALTER SCHEMA " + std::string(kReplacedSchema) + " RENAME TO tw");
    }
    tx.commit();
    return OkStatus();
  });
  if (!failed.ok()) {
    if (!settled.ok()) {
      return Status(failed.code(), failed.message() + "; and putting the old schema back failed: " +
                                       settled.message() + " (it is in the schema " +
                                       kReplacedSchema + ")");
    }
    return failed;
  }
  TW_RETURN_IF_ERROR(settled);
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return result;
}

}  // namespace tw
