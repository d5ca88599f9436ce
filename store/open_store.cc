#include "store/open_store.h"

namespace tw {

std::string DefaultStateDir(const std::function<std::optional<std::string>(const char*)>& getenv,
                            bool is_root) {
  if (is_root) return "/var/lib/transferwatch";
  if (auto xdg = getenv("XDG_DATA_HOME"); xdg && !xdg->empty() && (*xdg)[0] == '/') {
    return *xdg + "/transferwatch";
  }
  std::string home = getenv("HOME").value_or("");
  if (home.empty()) home = "/tmp";
  return home + "/.local/share/transferwatch";
}

namespace {
// Adds key=value to a URL or conninfo unless the key is there already.
std::string WithOption(const std::string& conninfo, const std::string& key,
                       const std::string& value) {
  // Present as a whole key ("keepalives" is not "keepalives_idle"; "key = v" counts too).
  for (size_t at = conninfo.find(key); at != std::string::npos; at = conninfo.find(key, at + 1)) {
    size_t end = at + key.size();
    while (end < conninfo.size() && conninfo[end] == ' ') ++end;
    if (end < conninfo.size() && conninfo[end] == '=') return conninfo;
  }
  bool uri = conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
  if (!uri) return conninfo + (conninfo.empty() ? "" : " ") + key + "=" + value;
  auto fragment = conninfo.find('#');
  std::string base = conninfo.substr(0, fragment);
  base += (base.find('?') == std::string::npos ? "?" : "&");
  base += key + "=" + value;
  return base;
}
}  // namespace

std::string WithConnectTimeout(const std::string& conninfo) {
  return WithOption(conninfo, "connect_timeout", "10");
}

std::string WithKeepalives(const std::string& conninfo) {
  std::string out = WithOption(conninfo, "keepalives", "1");
  out = WithOption(out, "keepalives_idle", "30");
  out = WithOption(out, "keepalives_interval", "10");
  return WithOption(out, "keepalives_count", "3");
}

StatusOr<std::unique_ptr<StoreHandle>> OpenStore(const DatabaseSettings& settings, bool migrate) {
  std::unique_ptr<EmbeddedCluster> cluster;
  std::string conninfo;
  if (settings.url) {
    conninfo = WithConnectTimeout(*settings.url);
  } else {
    EmbeddedClusterOptions options;
    options.state_dir = settings.state_dir;
    options.cluster_user = settings.embedded_user;
    options.fsync = settings.embedded_fsync;
    TW_ASSIGN_OR_RETURN(cluster, EmbeddedCluster::Acquire(options));
    conninfo = cluster->conninfo();
  }
  TW_ASSIGN_OR_RETURN(std::unique_ptr<PgStore> store, PgStore::Connect(conninfo));
  if (migrate) {
    TW_ASSIGN_OR_RETURN(auto known, EmbeddedMigrations());
    TW_ASSIGN_OR_RETURN(auto applied, store->Migrate(known, /*dry_run=*/false));
    (void)applied;
  }
  return std::make_unique<StoreHandle>(std::move(cluster), std::move(store), conninfo);
}

}  // namespace tw
