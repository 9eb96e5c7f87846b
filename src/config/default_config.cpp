// The embedded default configuration. Its values are printed from Config{}
// so that config.hpp stays the one place each default is written; the
// comments explain each key to the admin who starts from this file.
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/config.hpp"

namespace mtasts::config {
namespace {

// A YAML double-quoted string (the defaults are plain ASCII, but stay safe).
std::string yaml_quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string yes_no(bool value) { return value ? "true" : "false"; }

// "key: value" padded so the comments line up.
class Writer {
 public:
  void line(int indent, std::string_view key, const std::string& value, std::string_view comment) {
    std::string text = fmt::format("{:{}}{}:", "", indent, key);
    if (!value.empty()) text += " " + value;
    if (!comment.empty()) text = fmt::format("{:<34}  # {}", text, comment);
    out_ += text + "\n";
  }
  void text(std::string_view raw) { out_ += raw; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void write_zone(Writer& w, int indent, const ZoneConfig& zone) {
  w.line(indent, "strict_testing", yes_no(zone.strict_testing),
         "answer testing-mode policies like enforce (not RFC 8461)");
  w.line(indent, "timeout", fmt::format("{}", zone.timeout),
         "seconds a cold lookup (DNS and HTTPS) may take; at most 90");
  w.line(indent, "require_sni", yes_no(zone.require_sni),
         "add servername=hostname to answers (Postfix 3.4+)");
  w.line(indent, "tlsrpt", yes_no(zone.tlsrpt),
         "add TLSRPT attributes (Postfix 3.10+; 3.7 rejects them)");
}

std::string build() {
  const Config d;
  Writer w;
  w.text(
      "# mta-stsd configuration (YAML). postfix-mta-sts-resolver's files load unchanged;\n"
      "# every key is optional and shown here with its default.\n"
      "# Postfix: smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n\n");
  w.line(0, "host", yaml_quoted(d.host), "address to listen on");
  w.line(0, "port", fmt::format("{}", d.port), "TCP port");
  w.line(0, "path", yaml_quoted(d.path), "UNIX socket instead of host/port when set");
  w.line(0, "mode", fmt::format("0{:o}", d.mode), "UNIX socket permissions, octal");
  w.line(0, "owner", yaml_quoted(d.owner), "UNIX socket owner (name or number); empty = ours");
  w.line(0, "group", yaml_quoted(d.group),
         "UNIX socket group, e.g. postfix with mode 0660; empty = ours");
  w.line(0, "reuse_port", yes_no(d.reuse_port), "let a second instance bind the same port");
  w.line(0, "control_socket", yaml_quoted(d.control_socket),
         "mta-stsctl's socket (0600); empty = $RUNTIME_DIRECTORY, /run/mta-stsd or "
         "./var/mta-stsd; none = off");
  w.line(0, "shutdown_timeout", fmt::format("{}", d.shutdown_timeout),
         "seconds open connections get to finish on SIGTERM");
  w.line(0, "cache_grace", fmt::format("{}", d.cache_grace),
         "seconds before a cached policy's TXT id is re-checked");
  w.text("\n");
  w.line(0, "cache", "", "");
  w.line(2, "type", d.cache.type, "internal (same as memory), sqlite or redis");
  w.line(2, "options", "", "");
  w.line(4, "cache_size", fmt::format("{}", d.cache.cache_size),
         "policies kept in memory (least recently used dropped)");
  w.line(4, "filename", yaml_quoted(d.cache.filename),
         "sqlite file; empty = $STATE_DIRECTORY or " MTASTSD_DEFAULT_STATE_DIR
         " if writable, else ./var/mta-stsd");
  w.line(4, "timeout", fmt::format("{}", d.cache.timeout),
         "sqlite: seconds to wait for a locked database");
  w.line(4, "url", yaml_quoted(d.cache.url), "redis: redis://[:PASSWORD@]HOST[:PORT][/DB]");
  w.line(4, "socket_timeout", fmt::format("{}", d.cache.socket_timeout),
         "redis: seconds per command");
  w.line(4, "socket_connect_timeout", fmt::format("{}", d.cache.socket_connect_timeout),
         "redis: seconds to connect");
  w.text("\n");
  w.line(0, "default_zone", "", "socketmap names not listed under zones");
  write_zone(w, 2, d.default_zone);
  w.text("\n");
  if (d.zones.empty()) {
    w.line(0, "zones", "{}", "NAME: {same keys as default_zone} per socketmap name");
    w.text("#  strict:\n#    strict_testing: true\n");
  } else {
    w.line(0, "zones", "", "NAME: {same keys as default_zone} per socketmap name");
    for (const auto& [name, zone] : d.zones) {
      w.line(2, yaml_quoted(name), "", "");
      write_zone(w, 4, zone);
    }
  }
  w.text("\n");
  const ProactiveConfig& p = d.proactive_policy_fetching;
  w.line(0, "proactive_policy_fetching", "", "");
  w.line(2, "enabled", yes_no(p.enabled), "refresh cached policies in the background");
  w.line(2, "interval", fmt::format("{}", p.interval), "seconds between refresh sweeps");
  w.line(2, "concurrency_limit", fmt::format("{}", p.concurrency_limit),
         "domains refreshed at once");
  w.line(2, "grace_ratio", fmt::format("{}", p.grace_ratio),
         "skip domains checked less than interval/grace_ratio ago");
  w.text("\n");
  w.line(0, "alarms", "", "");
  w.line(2, "expiry_warning",
         fmt::format("[{}]", fmt::join(d.alarm_expiry_warning, ", ")),
         "warn this many seconds before a failing enforce policy expires");
  w.text("\n");
  const DaneConfig& dane = d.dane;
  w.line(0, "dane", "", "DANE first (RFC 7672): needs a validating resolver (unbound)");
  w.line(2, "enabled", yes_no(dane.enabled), "look up MX and TLSA records before MTA-STS");
  w.line(2, "on_failure", dane.on_failure,
         "DANE lookups failing, nothing cached: temp (defer) or sts (MTA-STS decides)");
  w.line(2, "min_ttl", fmt::format("{}", dane.min_ttl), "seconds, lower bound on DNS TTLs");
  w.line(2, "max_ttl", fmt::format("{}", dane.max_ttl), "seconds, upper bound on DNS TTLs");
  w.line(2, "stale_ttl", fmt::format("{}", dane.stale_ttl),
         "seconds past expiry a result still answers while lookups fail");
  w.text("\n");
  w.line(0, "metrics", "", "Prometheus text format on GET /metrics");
  w.line(2, "listen", yaml_quoted(d.metrics.listen),
         "ADDR:PORT, e.g. \"127.0.0.1:9461\"; empty = off");
  w.text("\n");
  std::string servers;
  for (const auto& server : d.nameservers)
    servers += (servers.empty() ? "" : ", ") + yaml_quoted(server);
  w.line(0, "resolver", "", "");
  w.line(2, "nameservers", "[" + servers + "]",
         "\"ADDR\", \"ADDR:PORT\", \"[IPV6]:PORT\"; [] = resolv.conf");
  w.line(0, "tls", "", "");
  w.line(2, "ca_file", yaml_quoted(d.ca_file), "PEM CA bundle for policy fetches; empty = system");
  w.text("\n");
  w.line(0, "limits", "", "");
  w.line(2, "max_connections", fmt::format("{}", d.max_connections), "open Postfix connections");
  w.line(2, "max_request_bytes", fmt::format("{}", d.max_request_bytes),
         "longest key accepted; longer requests get PERM");
  w.line(2, "idle_timeout", fmt::format("{}", d.idle_timeout),
         "seconds before an idle connection is closed");
  w.line(2, "request_timeout", fmt::format("{}", d.request_timeout),
         "seconds from a request's first byte to its last (slow clients are closed)");
  w.line(2, "max_concurrent_resolutions", fmt::format("{}", d.max_concurrent_resolutions),
         "domains looked up at once");
  w.line(2, "negative_ttl", fmt::format("{}", d.negative_ttl),
         "seconds a no-policy result is cached");
  w.line(2, "retry_interval", fmt::format("{}", d.retry_interval),
         "seconds between retries of a failed fetch");
  w.text("\n");
  w.line(0, "log_level", d.log_level, "trace, debug, info, warn, error, critical or off");
  w.line(0, "log", "", "");
  w.line(2, "target", d.log.target, "stderr, syslog (/dev/log) or journald");
  w.line(2, "facility", d.log.facility, "syslog facility (Postfix logs as mail)");
  w.text("\n");
  w.line(0, "privileges", "", "without systemd: who to become after start-up");
  w.line(2, "user", yaml_quoted(d.privileges.user),
         "drop to this user once sockets and cache are open");
  w.line(2, "group", yaml_quoted(d.privileges.group), "and this group; empty = user's own");
  w.line(2, "allow_root", yes_no(d.privileges.allow_root),
         "run on as root when no user is set (refused otherwise)");
  return w.take();
}

}  // namespace

const std::string& default_config_yaml() {
  static const std::string text = build();
  return text;
}

}  // namespace mtasts::config
