#pragma once
// mta-stsctl's commands, one file each: query (query.cpp), resolve
// (resolve.cpp), list/show/purge/stats (admin.cpp), prefetch (prefetch.cpp),
// export and import (transfer.cpp);
// main.cpp parses the command line and calls one of them.
#include <cstddef>
#include <string>

#include "config/config.hpp"

namespace mtasts::cli {

// Exit codes follow postmap -q: 0 found, 1 not found, 2 and up errors.
constexpr int kFound = 0, kNotFound = 1, kError = 2;

// Where and how to reach the daemon's control socket (list, show, purge,
// prefetch, stats).
struct ControlTarget {
  std::string path;         // --control
  std::string config_file;  // -c: read control_socket from it
  int timeout_s = 10;
};

// Asks a running mta-stsd like postmap -q; prints the answer's value.
int query(const std::string& host, const std::string& port, const std::string& socket_path,
          const std::string& name, const std::string& key, int timeout_s);
// A fresh discovery (MTA-STS and DANE), explained step by step.
int resolve(const config::Config& config, const std::string& key, const std::string& zone_name,
            bool json);
int list_policies(const ControlTarget& target, bool json);
// The domains whose protection is in danger now (the downgrade alarm).
int list_alarms(const ControlTarget& target, bool json);
int show_policy(const ControlTarget& target, const std::string& domain, bool json);
int purge_policy(const ControlTarget& target, const std::string& domain);
int show_stats(const ControlTarget& target, bool json);
// The daemon re-reads its configuration file (as on SIGHUP): what it applied and
// what needs a restart; exit 2 when the file did not load (nothing changed).
int reload_config(const ControlTarget& target, bool json);
// Every cached policy and DANE result, as JSON lines (control/transfer.hpp),
// to `output` ("" or "-": stdout).
int export_cache(const ControlTarget& target, const std::string& output);
// Hands an export's records to the daemon, which checks each as a store's
// record; exit 1 when some were refused (each named on stderr).
int import_file(const ControlTarget& target, const std::string& file);
int prefetch_file(const ControlTarget& target, const std::string& file, bool wait, int wait_timeout,
                  std::size_t parallel);

}  // namespace mtasts::cli
