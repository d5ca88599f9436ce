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

std::string WithConnectTimeout(const std::string& conninfo) {
  if (conninfo.find("connect_timeout") != std::string::npos) return conninfo;
  bool uri = conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
  if (!uri) return conninfo + (conninfo.empty() ? "" : " ") + "connect_timeout=10";
  auto fragment = conninfo.find('#');
  std::string base = conninfo.substr(0, fragment);
  base += (base.find('?') == std::string::npos ? "?" : "&");
  base += "connect_timeout=10";
  return base;
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
