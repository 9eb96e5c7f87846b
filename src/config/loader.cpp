// YAML -> Config. Key names, types and defaults follow postfix-mta-sts-resolver
// (defaults.py, mta-sts-daemon.yml(5)) so its files load unchanged; values are
// read as PyYAML reads them (yaml_scalar.hpp). Every error names the source,
// the line and the key path; unknown keys are warnings, not errors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/config.hpp"
#include "config/listen_address.hpp"
#include "config/log_facility.hpp"
#include "config/nameserver.hpp"
#include "config/yaml_scalar.hpp"
#include "util/log_text.hpp"

namespace mtasts::config {
namespace {

// Merge keys may nest (a merged map merging another); aliases can even make
// a map merge itself, so the depth is bounded.
constexpr int kMaxMergeDepth = 16;
constexpr int kMaxMerges = 1000;  // maps merged in by "<<", in the whole file
// A configuration file is a few kilobytes; refuse to slurp anything huge.
constexpr std::size_t kMaxFileBytes = 1024 * 1024;
// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
constexpr std::size_t kMaxSocketPath = 107;
// RFC 8461 §3.2: max_age is at most 31557600 s (one year); no interval we
// take needs to be longer.
constexpr double kOneYear = 31557600;
// Postfix's socketmap client gives up after 100 s (dict_sockmap.c), so a zone
// timeout must stay below it for an answer to arrive at all.
constexpr double kMaxZoneTimeout = 90;

constexpr std::array<std::string_view, 6> kCacheTypes = {"internal", "memory",         "sqlite",
                                                         "redis",    "redis_sentinel", "postgres"};
// A sentinel master name is a word in sentinel.conf; anything longer is a mistake.
constexpr std::size_t kMaxMasterName = 256;

int line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

// One key/value pair of a map, after merge keys are applied.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;

  // yaml-cpp's Node::operator= writes into the document: it makes the node on
  // the left refer to the one on the right. Replacing an earlier duplicate key's
  // entry that way turned its value (an anchor's node, say) into the later one,
  // which can make the document refer to itself, and then iterating it reads
  // freed memory (found by fuzz_config). An Entry is replaced by rebinding its
  // handles (Node::reset), which leaves the document alone.
  Entry& operator=(const Entry& other) {
    key = other.key;
    key_node.reset(other.key_node);
    value.reset(other.value);
    return *this;
  }

  // The value's line; an empty value ("key:") has no useful mark of its own.
  int line() const {
    if (value.IsDefined() && !value.IsNull()) {
      if (const int l = line_of(value); l > 0) return l;
    }
    return line_of(key_node);
  }
};

// A plain (unquoted, untagged) scalar: the only kind YAML resolves to null,
// bool or int. Quoted text is a string, but for numbers and booleans we still
// read it, since the intent ("8461") is plain.
bool is_plain(const YAML::Node& node) { return node.Tag() == "?"; }

bool is_null_value(const YAML::Node& node) {
  return !node.IsDefined() || node.IsNull() ||
         (node.IsScalar() && is_plain(node) && is_yaml_null(node.Scalar()));
}

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (is_null_value(node)) return "nothing";
  if (node.Scalar().empty()) return "\"\"";
  return util::log_text(node.Scalar(), 64);
}

// Sees parser events before yaml-cpp builds nodes: where a second document
// starts, and the first alias that refers to a node still being built
// ("&a {b: *a}"). yaml-cpp 0.7 builds such a cycle, and walking it reads freed
// memory (found by fuzz_config); PyYAML's safe_load builds it too, but no
// configuration needs one, so it is refused with its line.
class StreamCheck final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_line_ = mark.line + 1;
  }
  void OnDocumentEnd() override { open_.clear(); }
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (recursive_line_ == 0 && std::find(open_.begin(), open_.end(), anchor) != open_.end())
      recursive_line_ = mark.line + 1;
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_.push_back(anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open_.push_back(anchor);
  }
  void OnMapEnd() override { close(); }

  int documents() const { return documents_; }
  int second_line() const { return second_line_; }
  int recursive_line() const { return recursive_line_; }

 private:
  void close() {
    if (!open_.empty()) open_.pop_back();
  }

  std::vector<YAML::anchor_t> open_;  // anchors of the collections being built (0: none)
  int documents_ = 0;
  int second_line_ = 0;
  int recursive_line_ = 0;
};

// Checks the stream before it is loaded (at most two documents are looked at):
// one document, no alias inside the node it names.
void check_stream(const std::string& yaml, const std::string& source) {
  std::istringstream stream(yaml);
  YAML::Parser parser(stream);
  StreamCheck check;
  for (int i = 0; i < 2 && parser.HandleNextDocument(check); ++i) {
  }
  if (check.recursive_line() > 0) {
    throw ConfigError(
        fmt::format("{}:{}: an alias refers to a node that contains it; the "
                    "configuration cannot be recursive",
                    source, check.recursive_line()));
  }
  if (check.documents() >= 2) {
    // PyYAML's safe_load refuses a stream of several documents too.
    throw ConfigError(fmt::format("{}:{}: a second YAML document; the configuration is one map",
                                  source, check.second_line()));
  }
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  LoadResult read(const std::string& yaml) {
    YAML::Node document;
    try {
      // yaml-cpp 0.7's LoadAll never ends on some inputs (a lone ",": endless
      // empty documents, jbeder/yaml-cpp#1040), so count documents with a bounded
      // loop first and parse only a single-document stream.
      check_stream(yaml, source_);
      document = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
      if (e.mark.is_null()) throw ConfigError(fmt::format("{}: invalid YAML: {}", source_, e.msg));
      throw ConfigError(fmt::format("{}:{}: invalid YAML: {} (column {})", source_, e.mark.line + 1,
                                    e.msg, e.mark.column + 1));
    }
    if (!document || is_null_value(document)) return std::move(result_);
    std::vector<YAML::Node> documents{document};
    const YAML::Node& root = documents[0];
    if (!root.IsMap())
      throw ConfigError(fmt::format("{}:{}: the configuration must be a map of keys (got {})",
                                    source_, line_of(root), describe(root)));
    try {
      read_top(root);
    } catch (const YAML::Exception& e) {
      // Node access does not throw for the calls made here; keep the contract
      // (only ConfigError escapes) should a yaml-cpp version differ.
      throw ConfigError(fmt::format("{}: invalid YAML: {}", source_, e.msg));
    }
    return std::move(result_);
  }

 private:
  using Handler = std::function<void(const Entry&, const std::string&)>;

  std::string source_;
  int merges_expanded_ = 0;
  // cache.options keys whose meaning depends on cache.type (which may come after
  // them): read by check_cache.
  std::vector<std::pair<Entry, std::string>> sentinel_keys_;
  LoadResult result_;
  Config& cfg_ = result_.config;

  [[noreturn]] void fail(int line, const std::string& path, std::string_view what,
                         const std::string& got) const {
    if (line > 0)
      throw ConfigError(fmt::format("{}:{}: {}: {} (got {})", source_, line, path, what, got));
    throw ConfigError(fmt::format("{}: {}: {} (got {})", source_, path, what, got));
  }
  [[noreturn]] void fail(const Entry& e, const std::string& path, std::string_view what) const {
    fail(e.line(), path, what, describe(e.value));
  }

  void warn(int line, std::string_view message) {
    result_.warnings.push_back(fmt::format("{}:{}: {}", source_, line, message));
  }
  // A key nobody knows: warned about, and counted for --check-config.
  void unknown(int line, const std::string& key_path, std::string_view hint) {
    warn(line, fmt::format("unknown key '{}' ignored{}", key_path, hint));
    result_.unknown_keys.push_back(fmt::format("{}:{}: {}", source_, line, key_path));
  }

  // The map's entries in file order, YAML merge keys ("<<: *anchor", which
  // PyYAML honours) expanded: explicit keys win over merged ones, earlier
  // merged maps over later ones. A repeated key: the last one counts (as in
  // PyYAML), with a warning.
  std::vector<Entry> entries(const YAML::Node& map, const std::string& path, int depth = 0) {
    if (depth > kMaxMergeDepth)
      fail(line_of(map), path.empty() ? "<<" : join(path, "<<"), "merge keys nested too deeply",
           describe(map));
    std::vector<Entry> out;
    std::vector<YAML::Node> merges;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar())
        fail(line_of(key), path.empty() ? "(top level)" : path, "keys must be strings",
             describe(key));
      const std::string& name = key.Scalar();
      if (name == "<<" && (is_plain(key) || key.Tag() == "tag:yaml.org,2002:merge")) {
        merges.push_back(it->second);
        continue;
      }
      Entry entry{name, key, it->second};
      auto same =
          std::find_if(out.begin(), out.end(), [&](const Entry& o) { return o.key == name; });
      if (same != out.end()) {
        warn(line_of(key),
             fmt::format("duplicate key '{}': the last one is used", join(path, name)));
        *same = std::move(entry);
      } else {
        out.push_back(std::move(entry));
      }
    }
    auto absorb = [&](const YAML::Node& merged) {
      if (!merged.IsMap())
        fail(line_of(merged), join(path, "<<"), "can only merge maps", describe(merged));
      // Aliases share nodes, so "<<: [*a, *a, ...]" nested a few times would
      // expand to billions of entries: cap the work, not only the depth.
      if (++merges_expanded_ > kMaxMerges)
        fail(line_of(merged), join(path, "<<"),
             fmt::format("more than {} merges in all", kMaxMerges), describe(merged));
      for (auto& entry : entries(merged, path, depth + 1)) {
        auto same = std::find_if(out.begin(), out.end(),
                                 [&](const Entry& o) { return o.key == entry.key; });
        if (same == out.end()) out.push_back(std::move(entry));
      }
    };
    for (const auto& merge : merges) {
      if (merge.IsSequence()) {
        for (const auto& item : merge) absorb(item);
      } else {
        absorb(merge);
      }
    }
    return out;
  }

  // Calls the handler of each known key; the others are warned about.
  void dispatch(const YAML::Node& map, const std::string& path,
                std::initializer_list<std::pair<std::string_view, Handler>> handlers) {
    for (const auto& entry : entries(map, path)) {
      const std::string key_path = join(path, entry.key);
      bool known = false;
      for (const auto& [name, handler] : handlers) {
        if (entry.key == name) {
          handler(entry, key_path);
          known = true;
          break;
        }
      }
      if (!known) unknown(line_of(entry.key_node), key_path, "");
    }
  }

  // A map value, or nullopt for an empty one ("cache:" alone = defaults).
  std::optional<YAML::Node> map_value(const Entry& e, const std::string& path) const {
    if (is_null_value(e.value)) return std::nullopt;
    if (!e.value.IsMap()) fail(e, path, "must be a map of keys");
    return e.value;
  }

  const std::string& scalar(const Entry& e, const std::string& path, std::string_view what) const {
    if (!e.value.IsScalar()) fail(e, path, what);
    return e.value.Scalar();
  }

  void read_bool(const Entry& e, const std::string& path, bool& out) const {
    if (is_null_value(e.value)) return;
    const auto value = parse_yaml_bool(scalar(e, path, "must be true or false"));
    if (!value) fail(e, path, "must be true or false");
    out = *value;
  }

  template <typename T>
  void read_uint(const Entry& e, const std::string& path, T& out, std::int64_t min,
                 std::int64_t max) const {
    static_assert(std::is_unsigned_v<T>);
    if (is_null_value(e.value)) return;
    const auto what = fmt::format("must be a whole number from {} to {}", min, max);
    // "60.0" is a whole number too (PyYAML would hand the daemon a float).
    const auto number = parse_yaml_number(scalar(e, path, what));
    if (!number || *number != std::floor(*number) || *number < static_cast<double>(min) ||
        *number > static_cast<double>(max))
      fail(e, path, what);
    out = static_cast<T>(*number);
  }

  // A duration in seconds: above min (or from min when min_inclusive), at most max.
  void read_seconds(const Entry& e, const std::string& path, double& out, double min,
                    bool min_inclusive, double max) const {
    if (is_null_value(e.value)) return;
    const auto what =
        min_inclusive ? fmt::format("must be a number of seconds from {} to {}", min, max)
                      : fmt::format("must be a number of seconds above {}, at most {}", min, max);
    const auto number = parse_yaml_number(scalar(e, path, what));
    if (!number || *number > max || *number < min || (!min_inclusive && *number == min))
      fail(e, path, what);
    out = *number;
  }

  // Whole seconds where postfix-mta-sts-resolver takes a float (cache_grace):
  // a fraction is rounded up, with a warning, rather than refused.
  void read_whole_seconds(const Entry& e, const std::string& path, std::uint32_t& out, double min,
                          double max) {
    double seconds = out;
    read_seconds(e, path, seconds, min, true, max);
    if (seconds != std::floor(seconds))
      warn(e.line(), fmt::format("{}: {} rounded up to {} s", path, seconds, std::ceil(seconds)));
    out = static_cast<std::uint32_t>(std::ceil(seconds));
  }

  // Text: no control characters (paths and names go to syscalls and logs).
  void read_string(const Entry& e, const std::string& path, std::string& out,
                   bool allow_empty = true) const {
    if (is_null_value(e.value)) return;
    const std::string& text = scalar(e, path, "must be a string");
    for (unsigned char c : text) {
      if (c < 0x20 || c == 0x7f) fail(e, path, "must not contain control characters");
    }
    if (!allow_empty && text.empty()) fail(e, path, "must not be empty");
    out = text;
  }

  // Socket permissions. PyYAML reads 0666 as octal (YAML 1.1); 0o666 is
  // YAML 1.2's spelling; a decimal number is taken as it is, but warned about
  // when it looks like octal digits missing their leading 0.
  void read_mode(const Entry& e, const std::string& path) {
    if (is_null_value(e.value)) return;
    const auto what = "must be a file mode from 0 to 07777, written in octal as 0660";
    const std::string& text = scalar(e, path, what);
    const auto value = parse_yaml_int(text);
    if (!value || *value < 0 || *value > 07777) fail(e, path, what);
    const bool decimal = !text.empty() && text.front() >= '1' && text.front() <= '9';
    if (decimal && text.find_first_not_of("01234567") == std::string::npos)
      warn(e.line(), fmt::format("{}: {} is decimal (octal 0{:o}); write 0{} for octal", path, text,
                                 *value, text));
    cfg_.mode = static_cast<unsigned>(*value);
  }

  void read_top(const YAML::Node& root) {
    YAML::Node cache_type_node;
    YAML::Node url_node;
    YAML::Node dsn_node;
    dispatch(
        root, "",
        {{"host",
          [&](const Entry& e, const std::string& p) { read_string(e, p, cfg_.host, false); }},
         {"port",
          [&](const Entry& e, const std::string& p) { read_uint(e, p, cfg_.port, 1, 65535); }},
         {"path",
          [&](const Entry& e, const std::string& p) {
            read_string(e, p, cfg_.path);
            if (cfg_.path.size() > kMaxSocketPath)
              fail(e, p,
                   fmt::format("longer than a UNIX socket path can be ({} bytes)", kMaxSocketPath));
          }},
         {"mode", [&](const Entry& e, const std::string& p) { read_mode(e, p); }},
         {"owner", [&](const Entry& e, const std::string& p) { read_account(e, p, cfg_.owner); }},
         {"group", [&](const Entry& e, const std::string& p) { read_account(e, p, cfg_.group); }},
         {"privileges", [&](const Entry& e, const std::string& p) { read_privileges(e, p); }},
         {"log", [&](const Entry& e, const std::string& p) { read_log(e, p); }},
         {"control_socket",
          [&](const Entry& e, const std::string& p) {
            read_string(e, p, cfg_.control_socket);
            if (cfg_.control_socket.size() > kMaxSocketPath)
              fail(e, p,
                   fmt::format("longer than a UNIX socket path can be ({} bytes)", kMaxSocketPath));
          }},
         {"reuse_port",
          [&](const Entry& e, const std::string& p) { read_bool(e, p, cfg_.reuse_port); }},
         {"shutdown_timeout",
          [&](const Entry& e, const std::string& p) {
            read_seconds(e, p, cfg_.shutdown_timeout, 0, true, 3600);
          }},
         {"cache_grace",
          [&](const Entry& e, const std::string& p) {
            read_whole_seconds(e, p, cfg_.cache_grace, 0, kOneYear);
          }},
         {"cache",
          [&](const Entry& e, const std::string& p) {
            read_cache(e, p, cache_type_node, url_node, dsn_node);
          }},
         {"default_zone",
          [&](const Entry& e, const std::string& p) { read_zone(e, p, cfg_.default_zone); }},
         {"zones", [&](const Entry& e, const std::string& p) { read_zones(e, p); }},
         {"proactive_policy_fetching",
          [&](const Entry& e, const std::string& p) { read_proactive(e, p); }},
         {"resolver", [&](const Entry& e, const std::string& p) { read_resolver(e, p); }},
         {"alarms", [&](const Entry& e, const std::string& p) { read_alarms(e, p); }},
         {"dane", [&](const Entry& e, const std::string& p) { read_dane(e, p); }},
         {"metrics", [&](const Entry& e, const std::string& p) { read_metrics(e, p); }},
         {"tls",
          [&](const Entry& e, const std::string& p) {
            if (auto map = map_value(e, p)) {
              dispatch(*map, p, {{"ca_file", [&](const Entry& f, const std::string& q) {
                                    read_string(f, q, cfg_.ca_file);
                                  }}});
            }
          }},
         {"limits", [&](const Entry& e, const std::string& p) { read_limits(e, p); }},
         {"log_level", [&](const Entry& e, const std::string& p) { read_log_level(e, p); }}});
    check_cache(cache_type_node, url_node, dsn_node);
  }

  void read_cache(const Entry& e, const std::string& path, YAML::Node& type_node,
                  YAML::Node& url_node, YAML::Node& dsn_node) {
    auto map = map_value(e, path);
    if (!map) return;
    CacheConfig& cache = cfg_.cache;
    dispatch(
        *map, path,
        {{"type",
          [&](const Entry& t, const std::string& p) {
            read_string(t, p, cache.type);
            if (std::find(kCacheTypes.begin(), kCacheTypes.end(), cache.type) == kCacheTypes.end())
              fail(t, p,
                   fmt::format("unknown cache type; accepted types are {}",
                               fmt::join(kCacheTypes, ", ")));
            type_node.reset(t.key_node);  // rebinds (operator= would write into the document)
          }},
         {"options", [&](const Entry& o, const std::string& p) {
            auto options = map_value(o, p);
            if (!options) return;
            auto ignored = [&](const Entry& x, const std::string& q) {
              warn(line_of(x.key_node),
                   fmt::format("key '{}' has no effect in mta-stsd (accepted for "
                               "postfix-mta-sts-resolver compatibility)",
                               q));
            };
            auto by_type = [&](const Entry& x, const std::string& q) {
              sentinel_keys_.emplace_back(x, q);
            };
            dispatch(
                *options, p,
                {{"cache_size",
                  [&](const Entry& x, const std::string& q) {
                    read_uint(x, q, cache.cache_size, 1, 100'000'000);
                  }},
                 {"filename",
                  [&](const Entry& x, const std::string& q) { read_string(x, q, cache.filename); }},
                 {"url",
                  [&](const Entry& x, const std::string& q) {
                    read_string(x, q, cache.url);
                    url_node.reset(x.value);
                    check_redis_url(x, q);
                  }},
                 {"dsn",
                  [&](const Entry& x, const std::string& q) {
                    read_string(x, q, cache.dsn);
                    dsn_node.reset(x.value);
                  }},
                 {"timeout",
                  [&](const Entry& x, const std::string& q) {
                    read_seconds(x, q, cache.timeout, 0, false, 3600);
                  }},
                 {"socket_timeout",
                  [&](const Entry& x, const std::string& q) {
                    read_seconds(x, q, cache.socket_timeout, 0, false, 3600);
                  }},
                 {"socket_connect_timeout",
                  [&](const Entry& x, const std::string& q) {
                    read_seconds(x, q, cache.socket_connect_timeout, 0, false, 3600);
                  }},
                 // SQLite connection threads and the Redis pool size belong to
                 // the Python implementation's connection pools.
                 {"threads", ignored},
                 {"max_connections", ignored},
                 // redis_sentinel's (with redis they go in the url).
                 {"sentinels", by_type},
                 {"sentinel_master_name", by_type},
                 {"password", by_type},
                 {"username", by_type},
                 {"db", by_type}});
          }}});
  }

  void check_redis_url(const Entry& e, const std::string& path) const {
    const std::string& url = cfg_.cache.url;
    if (url.empty()) return;
    for (std::string_view scheme : {"redis://", "rediss://"}) {
      if (url.starts_with(scheme)) return;
    }
    if (url.starts_with("unix:///")) return;
    fail(e, path, "must start with redis://, rediss:// or unix:/// (an absolute socket path)");
  }

  // sentinels: [[HOST, PORT], ...], as postfix-mta-sts-resolver's example writes it.
  void read_sentinels(const Entry& e, const std::string& path) {
    if (is_null_value(e.value) || (e.value.IsSequence() && e.value.size() == 0))
      fail(e, path, "must name at least one sentinel as [HOST, PORT]");
    if (!e.value.IsSequence()) fail(e, path, "must be a list of [HOST, PORT] pairs");
    std::size_t index = 0;
    for (const auto& item : e.value) {
      const std::string item_path = fmt::format("{}[{}]", path, index++);
      if (!item.IsSequence() || item.size() != 2 || !item[0].IsScalar() || !item[1].IsScalar())
        fail(line_of(item), item_path, "must be a [HOST, PORT] pair", describe(item));
      SentinelAddress address;
      address.host = item[0].Scalar();
      if (address.host.empty() || is_null_value(item[0]))
        fail(line_of(item), item_path, "the host must not be empty", describe(item[0]));
      for (unsigned char c : address.host) {
        if (c < 0x20 || c == 0x7f || c == ' ')
          fail(line_of(item), item_path, "the host must not contain spaces or control characters",
               describe(item[0]));
      }
      const auto port = parse_yaml_number(item[1].Scalar());
      if (!port || *port != std::floor(*port) || *port < 1 || *port > 65535)
        fail(line_of(item), item_path, "the port must be a whole number from 1 to 65535",
             describe(item[1]));
      address.port = static_cast<int>(*port);
      cfg_.cache.sentinels.push_back(std::move(address));
    }
  }

  // The keys of sentinel_keys_, now that the type is known.
  void read_sentinel_keys() {
    CacheConfig& cache = cfg_.cache;
    for (const auto& [x, q] : sentinel_keys_) {
      if (cache.type != "redis_sentinel") {
        if (x.key == "sentinels" || x.key == "sentinel_master_name") {
          warn(line_of(x.key_node),
               fmt::format("{} has no effect with cache type {}", q, cache.type));
        } else {
          unknown(line_of(x.key_node), q,
                  " (write it in cache.options.url: "
                  "redis://[USER][:PASSWORD]@HOST[:PORT][/DB])");
        }
        continue;
      }
      if (x.key == "sentinels") {
        read_sentinels(x, q);
      } else if (x.key == "sentinel_master_name") {
        read_string(x, q, cache.sentinel_master_name);
        if (cache.sentinel_master_name.size() > kMaxMasterName)
          fail(x, q, fmt::format("longer than {} bytes", kMaxMasterName));
      } else if (x.key == "password") {
        // redis-py sends AUTH for any password that is not None, "" included.
        if (is_null_value(x.value)) continue;
        read_string(x, q, cache.password);
        cache.has_password = true;
      } else if (x.key == "username") {
        read_string(x, q, cache.username);
      } else if (x.key == "db") {
        unsigned db = 0;
        read_uint(x, q, db, 0, 2147483647);
        cache.db = static_cast<int>(db);
      }
    }
  }

  // Checks that need the whole cache section (the keys come in any order).
  void check_cache(const YAML::Node& type_node, const YAML::Node& url_node,
                   const YAML::Node& dsn_node) {
    read_sentinel_keys();
    const CacheConfig& cache = cfg_.cache;
    if (cache.type == "redis_sentinel") {
      auto given = [&](std::string_view key) {
        for (const auto& [x, q] : sentinel_keys_) {
          if (x.key == key) return describe(x.value);
        }
        return std::string("nothing");
      };
      if (cache.sentinels.empty())
        fail(line_of(type_node), "cache.options.sentinels",
             "is required with cache type redis_sentinel ([[HOST, PORT], ...])",
             given("sentinels"));
      if (cache.sentinel_master_name.empty())
        fail(line_of(type_node), "cache.options.sentinel_master_name",
             "is required with cache type redis_sentinel (the name in the sentinels' "
             "'sentinel monitor' line)",
             given("sentinel_master_name"));
    }
    if (cache.type == "postgres" && cache.dsn.empty())
      fail(line_of(type_node), "cache.options.dsn",
           "is required with cache type postgres (postgres://USER@HOST/DB or "
           "'host=... dbname=...')",
           dsn_node.IsDefined() ? describe(dsn_node) : "nothing");
    if (cache.type != "postgres" && !cache.dsn.empty())
      warn(line_of(dsn_node),
           fmt::format("cache.options.dsn has no effect with cache type {}", cache.type));
    if (cache.type == "redis" && cache.url.empty())
      fail(line_of(type_node), "cache.options.url", "is required with cache type redis",
           url_node.IsDefined() ? describe(url_node) : "nothing");
    if (cache.type != "redis" && !cache.url.empty())
      warn(line_of(url_node),
           fmt::format("cache.options.url has no effect with cache type {}", cache.type));
  }

  // zones.NAME and default_zone. A zone not given a key takes the built-in
  // default, not default_zone's value (as postfix-mta-sts-resolver does).
  void read_zone(const Entry& e, const std::string& path, ZoneConfig& zone) {
    auto map = map_value(e, path);
    if (!map) return;
    dispatch(
        *map, path,
        {{"strict_testing",
          [&](const Entry& x, const std::string& q) { read_bool(x, q, zone.strict_testing); }},
         {"timeout",
          [&](const Entry& x, const std::string& q) {
            read_seconds(x, q, zone.timeout, 0, false, kMaxZoneTimeout);
          }},
         {"require_sni",
          [&](const Entry& x, const std::string& q) { read_bool(x, q, zone.require_sni); }},
         {"tlsrpt", [&](const Entry& x, const std::string& q) { read_bool(x, q, zone.tlsrpt); }}});
  }

  void read_zones(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    for (const auto& zone : entries(*map, path)) {
      const std::string zone_path = join(path, zone.key);
      // The zone name is the socketmap name Postfix sends (socketmap:inet:HOST:PORT:NAME).
      if (zone.key.empty())
        fail(line_of(zone.key_node), zone_path, "a zone name must not be empty", "\"\"");
      ZoneConfig config;
      read_zone(zone, zone_path, config);
      cfg_.zones[zone.key] = config;
    }
  }

  void read_proactive(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    ProactiveConfig& p = cfg_.proactive_policy_fetching;
    dispatch(
        *map, path,
        {{"enabled", [&](const Entry& x, const std::string& q) { read_bool(x, q, p.enabled); }},
         {"interval",
          [&](const Entry& x, const std::string& q) {
            read_whole_seconds(x, q, p.interval, 1, kOneYear);
          }},
         {"concurrency_limit",
          [&](const Entry& x, const std::string& q) {
            read_uint(x, q, p.concurrency_limit, 1, 10000);
          }},
         {"grace_ratio", [&](const Entry& x, const std::string& q) {
            // postfix-mta-sts-resolver divides by it: anything above 0
            // works there (its own tests use 1000).
            if (is_null_value(x.value)) return;
            const auto what = "must be a number above 0, at most 1000000";
            const auto number = parse_yaml_number(scalar(x, q, what));
            if (!number || *number <= 0 || *number > 1e6) fail(x, q, what);
            p.grace_ratio = *number;
          }}});
  }

  void read_dane(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    DaneConfig& d = cfg_.dane;
    dispatch(
        *map, path,
        {{"enabled", [&](const Entry& x, const std::string& q) { read_bool(x, q, d.enabled); }},
         {"on_failure",
          [&](const Entry& x, const std::string& q) {
            read_string(x, q, d.on_failure);
            if (d.on_failure != "temp" && d.on_failure != "sts") fail(x, q, "must be temp or sts");
          }},
         {"min_ttl", [&](const Entry& x,
                         const std::string& q) { read_whole_seconds(x, q, d.min_ttl, 1, 86400); }},
         {"max_ttl", [&](const Entry& x,
                         const std::string& q) { read_whole_seconds(x, q, d.max_ttl, 1, 604800); }},
         {"stale_ttl", [&](const Entry& x, const std::string& q) {
            read_whole_seconds(x, q, d.stale_ttl, 0, 604800);
          }}});
    if (d.min_ttl > d.max_ttl)
      fail(line_of(e.key_node), path + ".min_ttl", "must not be above max_ttl",
           fmt::format("{} > {}", d.min_ttl, d.max_ttl));
  }

  void read_metrics(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    dispatch(*map, path,
             {{"listen", [&](const Entry& x, const std::string& q) {
                 read_string(x, q, cfg_.metrics.listen);
                 if (!cfg_.metrics.listen.empty() && !parse_listen_address(cfg_.metrics.listen))
                   fail(x, q,
                        "must be ADDR:PORT or [IPV6]:PORT with a literal IP address "
                        "and a port, e.g. 127.0.0.1:9461 (empty: off)");
               }}});
  }

  void read_alarms(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    dispatch(*map, path, {{"expiry_warning", [&](const Entry& x, const std::string& q) {
                             if (is_null_value(x.value)) return;
                             if (!x.value.IsSequence())
                               fail(x, q, "must be a list of seconds, e.g. [604800, 86400]");
                             std::vector<std::uint32_t> margins;
                             std::size_t index = 0;
                             for (const auto& item : x.value) {
                               Entry one{x.key, x.key_node, item};
                               std::uint32_t seconds = 0;
                               read_whole_seconds(one, fmt::format("{}[{}]", q, index++), seconds,
                                                  1, kOneYear);
                               margins.push_back(seconds);
                             }
                             cfg_.alarm_expiry_warning = std::move(margins);
                           }}});
  }

  void read_resolver(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    dispatch(*map, path, {{"nameservers", [&](const Entry& x, const std::string& q) {
                             if (is_null_value(x.value)) return;
                             if (!x.value.IsSequence()) fail(x, q, "must be a list of addresses");
                             std::vector<std::string> servers;
                             std::size_t index = 0;
                             for (const auto& item : x.value) {
                               const std::string item_path = fmt::format("{}[{}]", q, index++);
                               if (!item.IsScalar() || !parse_nameserver(item.Scalar()))
                                 fail(line_of(item), item_path,
                                      "must be ADDR, ADDR:PORT or [IPV6]:PORT with a literal IP "
                                      "address",
                                      describe(item));
                               servers.push_back(item.Scalar());
                             }
                             cfg_.nameservers = std::move(servers);
                           }}});
  }

  void read_limits(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    dispatch(*map, path,
             {{"max_connections",
               [&](const Entry& x, const std::string& q) {
                 read_uint(x, q, cfg_.max_connections, 1, 1'000'000);
               }},
              // A request must hold any domain (253 octets) with its socketmap name.
              {"max_request_bytes",
               [&](const Entry& x, const std::string& q) {
                 read_uint(x, q, cfg_.max_request_bytes, 512, 1'000'000);
               }},
              {"idle_timeout",
               [&](const Entry& x, const std::string& q) {
                 read_seconds(x, q, cfg_.idle_timeout, 0, false, 86400);
               }},
              {"request_timeout",
               [&](const Entry& x, const std::string& q) {
                 read_seconds(x, q, cfg_.request_timeout, 0, false, 3600);
               }},
              {"max_concurrent_resolutions",
               [&](const Entry& x, const std::string& q) {
                 read_uint(x, q, cfg_.max_concurrent_resolutions, 1, 1'000'000);
               }},
              {"negative_ttl",
               [&](const Entry& x, const std::string& q) {
                 read_whole_seconds(x, q, cfg_.negative_ttl, 0, 86400);
               }},
              // RFC 8461 §3.3: failed fetches are retried, but not in a tight loop.
              {"retry_interval", [&](const Entry& x, const std::string& q) {
                 read_whole_seconds(x, q, cfg_.retry_interval, 1, 86400);
               }}});
  }

  // A user or group: a number, or a name as useradd(8) allows it. Whether it
  // exists is checked at start-up (and by --check-config), not here.
  void read_account(const Entry& e, const std::string& path, std::string& out) const {
    std::string text;
    read_string(e, path, text);
    const auto what = "must be a user or group name (letters, digits, . _ -) or a number";
    const bool all_digits =
        !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (all_digits) {
      // (uid_t)-1 means "unchanged" to chown(2) and setuid(2) fails on it.
      if (text.size() > 10 || std::stoull(text) >= 4294967295ULL) fail(e, path, what);
    } else if (!text.empty()) {
      const bool bad_start = text.front() == '-';
      const bool bad_chars = text.find_first_not_of(
                                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
                                 "$") != std::string::npos;
      const auto dollar = text.find('$');
      if (bad_start || bad_chars || text.size() > 256 ||
          (dollar != std::string::npos && dollar + 1 != text.size()))
        fail(e, path, what);
    }
    out = text;
  }

  void read_privileges(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    PrivilegesConfig& p = cfg_.privileges;
    dispatch(*map, path,
             {{"user", [&](const Entry& x, const std::string& q) { read_account(x, q, p.user); }},
              {"group", [&](const Entry& x, const std::string& q) { read_account(x, q, p.group); }},
              {"allow_root",
               [&](const Entry& x, const std::string& q) { read_bool(x, q, p.allow_root); }}});
    if (!p.group.empty() && p.user.empty())
      fail(line_of(e.key_node), path + ".group", "needs privileges.user", p.group);
  }

  void read_log(const Entry& e, const std::string& path) {
    auto map = map_value(e, path);
    if (!map) return;
    LogConfig& log = cfg_.log;
    dispatch(*map, path,
             {{"target",
               [&](const Entry& x, const std::string& q) {
                 read_string(x, q, log.target);
                 if (log.target != "stderr" && log.target != "syslog" && log.target != "journald")
                   fail(x, q, "must be stderr, syslog or journald");
               }},
              {"facility", [&](const Entry& x, const std::string& q) {
                 read_string(x, q, log.facility);
                 if (!syslog_facility(log.facility))
                   fail(x, q,
                        fmt::format("must be a syslog facility: {}", syslog_facility_names()));
               }}});
  }

  void read_log_level(const Entry& e, const std::string& path) {
    if (is_null_value(e.value)) return;
    std::string level;
    read_string(e, path, level);
    // spdlog's names, plus postfix-mta-sts-resolver's -v spellings.
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kLevels = {{
        {"trace", "trace"},
        {"debug", "debug"},
        {"info", "info"},
        {"warn", "warn"},
        {"warning", "warn"},
        {"error", "error"},
        {"err", "error"},
        {"critical", "critical"},
        {"crit", "critical"},
        {"fatal", "critical"},
        {"off", "off"},
    }};
    for (const auto& [name, canonical] : kLevels) {
      if (level == name) {
        cfg_.log_level = canonical;
        return;
      }
    }
    fail(e, path, "must be trace, debug, info, warn, error, critical or off");
  }
};

}  // namespace

LoadResult load_config_text(const std::string& yaml, const std::string& source) {
  return Reader(source).read(yaml);
}

LoadResult load_config_file(const std::string& path) {
  auto failure = [&](int error) {
    return ConfigError(
        fmt::format("cannot read configuration file '{}': {}", path, std::strerror(error)));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw failure(errno);
  std::string text;
  int error = 0;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = errno;
  } else if (S_ISDIR(st.st_mode)) {
    error = EISDIR;
  } else {
    char buf[8192];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = errno;
        break;
      }
      if (n == 0) break;
      if (text.size() + static_cast<std::size_t>(n) > kMaxFileBytes) {
        error = EFBIG;
        break;
      }
      text.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (error != 0) throw failure(error);
  return load_config_text(text, path);
}

}  // namespace mtasts::config
