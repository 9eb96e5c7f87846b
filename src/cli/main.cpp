// mta-stsctl: the admin's tool. `query` asks a running mta-stsd like postmap does;
// `resolve` runs a fresh discovery and explains every step; list, show, purge,
// prefetch, stats, export and import talk to the daemon's control socket (control/protocol.hpp).
// Each command lives in its own file (cli/commands.hpp).
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "config/config.hpp"

using namespace mtasts::cli;

int main(int argc, char** argv) {
  CLI::App app{"mta-stsctl: query and inspect mta-stsd"};
  app.require_subcommand(1);

  std::string host = "127.0.0.1", port = "8461", socket_path, name = "postfix", key;
  int timeout = 100;
  auto* q = app.add_subcommand("query", "ask a running mta-stsd, like postmap -q");
  q->add_option("key", key, "domain or next-hop as Postfix sends it")->required();
  q->add_option("--host", host, "daemon address (default 127.0.0.1)");
  q->add_option("--port", port, "daemon port (default 8461)");
  q->add_option("--socket", socket_path, "daemon UNIX socket instead of TCP");
  q->add_option("--name", name, "socketmap name, i.e. the zone (default postfix)");
  q->add_option("--timeout", timeout, "seconds to wait (default 100, as Postfix)");

  std::string config_file, zone_name;
  bool json = false;
  auto* r = app.add_subcommand("resolve", "fresh MTA-STS discovery, explained step by step");
  r->add_option("key", key, "domain or next-hop")->required();
  r->add_option("-c,--config", config_file, "mta-stsd configuration (resolver, CA, zones)");
  r->add_option("--zone", zone_name, "render the answer for this zone");
  r->add_flag("--json", json, "machine-readable output");

  // The control socket's commands.
  ControlTarget target;
  auto control_options = [&](CLI::App* sub) {
    sub->add_option("--control", target.path, "the daemon's control socket");
    sub->add_option("-c,--config", target.config_file, "take control_socket from this file");
    sub->add_option("--timeout", target.timeout_s, "seconds per request (default 10)");
  };
  std::string domain, file;
  bool wait = false;
  int wait_timeout = 60;
  std::size_t parallel = 16;
  auto* ls = app.add_subcommand("list", "list the policies the daemon has cached");
  ls->add_flag("--json", json, "the daemon's JSON reply");
  bool alarms = false;
  ls->add_flag("--alarms", alarms,
               "only the domains in danger of a downgrade (the downgrade alarm)");
  auto* show = app.add_subcommand("show", "show one cached policy and its answers");
  show->add_option("domain", domain, "policy domain")->required();
  show->add_flag("--json", json, "the daemon's JSON reply");
  auto* purge = app.add_subcommand("purge", "forget a domain's policy (memory and store)");
  purge->add_option("domain", domain, "policy domain")->required();
  auto* prefetch = app.add_subcommand("prefetch", "learn the policies of a list of domains");
  prefetch->add_option("file", file, "domains, one a line, # comments; - for stdin")->required();
  prefetch->add_flag("--wait", wait, "wait for the lookups, then summarise");
  prefetch->add_option("--wait-timeout", wait_timeout, "seconds --wait waits (default 60)");
  prefetch->add_option("--parallel", parallel, "discoveries running at once (default 16)");
  auto* stats = app.add_subcommand("stats", "the daemon's counters and cache sizes");
  stats->add_flag("--json", json, "the daemon's JSON reply");
  auto* reload =
      app.add_subcommand("reload", "the daemon re-reads its configuration file (as on SIGHUP)");
  reload->add_flag("--json", json, "the daemon's JSON reply");
  std::string output;
  auto* exp =
      app.add_subcommand("export", "write every cached policy and DANE result as JSON lines");
  exp->add_option("-o,--output", output, "the file to write (default: stdout)");
  auto* imp = app.add_subcommand("import", "hand an export's records to the daemon, checked");
  imp->add_option("file", file, "the export; - for stdin")->required();
  for (auto* sub : {ls, show, purge, prefetch, stats, reload, exp, imp}) control_options(sub);
  CLI11_PARSE(app, argc, argv);

  if (q->parsed()) return query(host, port, socket_path, name, key, timeout);
  if (ls->parsed()) return alarms ? list_alarms(target, json) : list_policies(target, json);
  if (show->parsed()) return show_policy(target, domain, json);
  if (purge->parsed()) return purge_policy(target, domain);
  if (prefetch->parsed()) return prefetch_file(target, file, wait, wait_timeout, parallel);
  if (stats->parsed()) return show_stats(target, json);
  if (reload->parsed()) return reload_config(target, json);
  if (exp->parsed()) return export_cache(target, output);
  if (imp->parsed()) return import_file(target, file);

  mtasts::config::LoadResult loaded;
  try {
    loaded = config_file.empty() ? mtasts::config::load_config_text(
                                       mtasts::config::default_config_yaml(), "<embedded>")
                                 : mtasts::config::load_config_file(config_file);
  } catch (const mtasts::config::ConfigError& e) {
    std::fprintf(stderr, "mta-stsctl: configuration error: %s\n", e.what());
    return kError;
  }
  spdlog::set_level(spdlog::level::warn);
  return resolve(loaded.config, key, zone_name, json);
}
