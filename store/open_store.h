// Opening the store the way every program does: the database URL when one is configured, else
// the embedded cluster in the state directory. Called from main files only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "store/embedded_cluster.h"
#include "store/pg_store.h"

namespace tw {

struct DatabaseSettings {
  std::optional<std::string> url;            // libpq URL or conninfo; none = embedded
  std::string state_dir;                     // absolute
  std::optional<std::string> embedded_user;  // cluster user when running as root
  bool embedded_fsync = true;
};

// ~/.local/share/transferwatch ($XDG_DATA_HOME/transferwatch when set) for a user,
// /var/lib/transferwatch for root. `getenv` is injected for tests.
std::string DefaultStateDir(const std::function<std::optional<std::string>(const char*)>& getenv,
                            bool is_root);

// Adds connect_timeout=10 to a URL or conninfo that has none, so an unreachable server fails
// in seconds instead of the TCP default of minutes.
std::string WithConnectTimeout(const std::string& conninfo);

// Adds TCP keepalives (idle 30 s, then every 10 s, 3 misses) where not set: a daemon's
// connection to a server that vanished (a partition, a host power loss) errors within about a
// minute instead of waiting out the kernel's retransmissions (~15 min), so heartbeats and claims
// reconnect instead of hanging. Unix sockets ignore them.
std::string WithKeepalives(const std::string& conninfo);

// A connected store, and the embedded cluster lease when there is one. The store closes before
// the lease is given back, so the cluster can stop cleanly.
class StoreHandle {
 public:
  StoreHandle(std::unique_ptr<EmbeddedCluster> cluster, std::unique_ptr<PgStore> store,
              std::string conninfo = "")
      : cluster_(std::move(cluster)), store_(std::move(store)), conninfo_(std::move(conninfo)) {}
  ~StoreHandle() { store_.reset(); }

  PgStore& store() { return *store_; }
  EmbeddedCluster* cluster() { return cluster_.get(); }  // null with a URL
  // What the store connected with: more connections to the same database (the daemon's
  // threads) use it while this handle holds the cluster.
  const std::string& conninfo() const { return conninfo_; }

 private:
  std::unique_ptr<EmbeddedCluster> cluster_;  // destroyed after store_
  std::unique_ptr<PgStore> store_;
  std::string conninfo_;
};

// Connects and, with `migrate`, applies pending migrations (under the advisory lock).
// Unavailable when the database cannot be reached.
StatusOr<std::unique_ptr<StoreHandle>> OpenStore(const DatabaseSettings& settings, bool migrate);

}  // namespace tw
