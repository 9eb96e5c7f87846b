#include "daemon/control.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "control/transfer.hpp"
#include "resolver/dane_discovery.hpp"
#include "setup/setup.hpp"
#include "socketmap/listener.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"

namespace mtasts::daemon {

namespace asio = boost::asio;
using boost::system::error_code;
using control::ControlParse;
using control::ControlRequest;
using control::dump;
using control::error_json;
using control::Json;
using control::kMaxControlLine;
using control::parse_control_request;
using control::policy_json;
using control::policy_object;

// ----- server --------------------------------------------------------------------------

class ControlConnection;

struct ControlServer::State {
  State(asio::io_context& io_context, ControlOptions control_options,
        resolver::PolicyResolver& resolver, std::vector<resolver::Zone> daemon_zones,
        const util::Clock& wall_clock)
      : io(io_context),
        options(std::move(control_options)),
        policies(&resolver),
        zones(std::move(daemon_zones)),
        clock(&wall_clock) {}

  asio::io_context& io;
  const ControlOptions options;
  // Null once the server is stopped: handlers still queued in the io_context
  // must not reach a resolver that may be gone.
  resolver::PolicyResolver* policies;
  const std::vector<resolver::Zone> zones;
  const util::Clock* clock;
  std::function<std::string()> reload;  // mta-stsctl reload: the daemon's reply (JSON)
  std::optional<socketmap::BoundAcceptor> bound;
  socketmap::Endpoint peer;  // filled by the accept in progress
  std::unordered_set<ControlConnection*> connections;
  bool accepting = false;
};

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxDiscard = 1024 * 1024;

// Only root and the user the daemon runs as. The socket's mode already says so;
// this also holds when an admin loosened the mode or the directory.
bool peer_allowed(int fd, std::string& who) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    who = "unknown peer";
    return false;
  }
  who = fmt::format("uid {} pid {}", cred.uid, cred.pid);
  return cred.uid == 0 || cred.uid == ::geteuid();
}

}  // namespace

class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
 public:
  ControlConnection(std::shared_ptr<ControlServer::State> state, socketmap::Socket socket)
      : state_(std::move(state)), socket_(std::move(socket)), timer_(state_->io) {}
  ~ControlConnection() {
    if (!closed_) state_->connections.erase(this);
  }
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  void start() {
    state_->connections.insert(this);
    last_activity_ = Clock::now();
    arm_timer(last_activity_ + state_->options.idle_timeout);
    next_request();
  }

  void close(std::string_view why) {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    state_->connections.erase(this);
    spdlog::debug("control: closed a connection: {}", why);
  }

 private:
  // Answers the next buffered request line, or reads more.
  void next_request() {
    if (closed_ || writing_ || reading_ || recalling_) return;
    if (importing_) return next_import_line();
    const std::size_t max_line = state_->options.max_line;
    const auto newline = input_.find('\n');
    if ((newline != std::string::npos && newline > max_line) ||
        (newline == std::string::npos && input_.size() > max_line)) {
      discard_after_write_ = true;
      send(error_json(fmt::format("request line longer than {} bytes", max_line)) + "\n");
      return;
    }
    if (newline != std::string::npos) {
      const std::string line = input_.substr(0, newline);
      input_.erase(0, newline + 1);
      answer(line);
      return;
    }
    if (peer_done_) {
      if (input_.empty()) {
        close("done");
        return;
      }
      // A last request without a newline (printf 'stats' | socat ...) is still one.
      close_after_write_ = true;
      answer(std::exchange(input_, {}));
      return;
    }
    read();
  }

  void read() {
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const error_code& ec, std::size_t length) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      if (ec != asio::error::eof) {
        close(ec.message());
        return;
      }
      peer_done_ = true;
    } else {
      last_activity_ = Clock::now();
      input_.append(buffer_.data(), length);
    }
    next_request();
  }

  void answer(std::string_view line) {
    resolver::PolicyResolver* policies = state_->policies;
    if (policies == nullptr) {
      close("server stopped");
      return;
    }
    const auto parsed = parse_control_request(line);
    if (!parsed.request) {
      spdlog::debug("control: bad request: {}", parsed.error);
      send(error_json(parsed.error) + "\n");
      return;
    }
    const auto& request = *parsed.request;
    const std::int64_t now = state_->clock->now();
    using Command = ControlRequest::Command;
    if (request.command == Command::list) {
      start_listing(*policies, Listing::list);
      return;
    }
    if (request.command == Command::stats) {
      send(stats_json(*policies) + "\n");
      return;
    }
    if (request.command == Command::reload) {
      // The daemon's reload (SIGHUP's): its JSON reply, or an error without one.
      send((state_->reload ? state_->reload() : error_json("reload is not available")) + "\n");
      return;
    }
    if (request.command == Command::alarms) {
      send(alarms_json(*policies) + "\n");
      return;
    }
    if (request.command == Command::export_) {
      start_listing(*policies, Listing::export_lines);
      return;
    }
    if (request.command == Command::import_) {
      importing_ = true;
      import_ = {};
      import_line_ = 0;
      next_request();
      return;
    }
    const auto key = sts::parse_query_key(request.argument);
    if (key.kind != sts::QueryKey::Kind::domain) {
      const std::string why = key.kind == sts::QueryKey::Kind::parent_domain
                                  ? "a parent-domain key has no policy of its own"
                                  : key.reason;
      send(error_json(fmt::format("not a domain: {}", why)) + "\n");
      return;
    }
    const std::string& domain = key.domain;
    // "[host]:port" and "domain:port" keep their DANE result under that next
    // hop (RFC 7672 §2.2.2: TLSA at _port._tcp.host), the policy under the domain.
    const std::string dane_key =
        resolver::dane_destination({domain, key.bracketed, key.port.value_or(25)});
    std::string reply;
    switch (request.command) {
      case Command::show:
        if (policies->cache().policy(domain, now) == nullptr) {
          // Memory is not the whole cache: a policy dropped for cache_size is
          // read back from the store first, so show never says "not cached"
          // for a policy that still protects the domain.
          recalling_ = true;
          policies->stored().recall(domain, [self = shared_from_this(), domain, dane_key] {
            self->recalling_ = false;
            const auto* current = self->state_->policies;
            if (self->closed_ || current == nullptr) return;
            self->send(self->show_json(*current, domain, dane_key, self->state_->clock->now()) +
                       "\n");
          });
          return;
        }
        reply = show_json(*policies, domain, dane_key, now);
        break;
      case Command::purge: {
        const bool had = policies->purge(domain, dane_key);
        reply = dump(Json{{"domain", domain}, {"purged", had}});
        break;
      }
      case Command::prefetch: {
        const bool started = policies->prefetch(domain);
        const bool cached = policies->cache().policy(domain, now) != nullptr;
        spdlog::debug("control: prefetch {}: {}", domain,
                      started ? "started" : (cached ? "cached" : "not started"));
        reply = dump(Json{{"domain", domain}, {"started", started}, {"cached", cached}});
        break;
      }
      default:
        reply = error_json("internal error");
        break;
    }
    send(reply + "\n");
  }

  std::string show_json(const resolver::PolicyResolver& policies, const std::string& domain,
                        const std::string& dane_key, std::int64_t now) const {
    const cache::CachedPolicy* p = policies.cache().policy(domain, now);
    // The DANE result (RFC 7672) is kept apart from the policy: shown either way.
    Json dane = nullptr;
    if (const auto* resolver = policies.dane()) {
      if (const auto* d = resolver->cache().result(dane_key)) {
        dane = Json{{"level", dane::to_string(d->level)},
                    {"summary", d->summary},
                    {"fetched", d->fetched_at},
                    {"expires", d->expires_at},
                    {"keep_until", d->keep_until}};
      }
    }
    if (p == nullptr) {
      return dump(Json{{"domain", domain}, {"error", "not cached"}, {"dane", std::move(dane)}});
    }
    Json reply = policy_object(*p);
    reply["dane"] = std::move(dane);
    // What each zone answers Postfix for this policy (null: default_zone), with
    // the zones in force (a reload may have changed their options).
    Json answers = Json::array();
    const auto& zones = policies.zones();
    for (std::size_t i = 0; i < zones.size(); ++i) {
      if (zones[i].retired) continue;  // removed by a reload: its name selects default_zone
      answers.push_back(
          Json{{"zone", i == 0 ? Json(nullptr) : Json(zones[i].name)},
               {"answer", policies.cache().answer_for(*p, policies.answer_class(i))}});
    }
    reply["answers"] = std::move(answers);
    return dump(reply);
  }

  // {"alarms": [{"subject", "kind", "before", "after", "reason", "since", "stage"}, ...]}
  static std::string alarms_json(const resolver::PolicyResolver& policies) {
    Json alarms = Json::array();
    for (const auto& a : policies.alarms().list()) {
      alarms.push_back(Json{{"subject", a.subject},
                            {"kind", resolver::to_string(a.kind)},
                            {"before", a.before},
                            {"after", a.after},
                            {"reason", a.reason},
                            {"since", a.since},
                            {"stage", a.stage}});
    }
    return dump(Json{{"alarms", std::move(alarms)}});
  }

  static std::string stats_json(const resolver::PolicyResolver& policies) {
    const auto& s = policies.stats();
    const resolver::DaneResolver* dane = policies.dane();
    const auto& cache = policies.cache();
    return dump(Json{
        {"queries", s.queries},
        {"hits", s.hits},
        {"negative_hits", s.negative_hits},
        {"misses", s.misses},
        {"discoveries", s.discoveries},
        {"revalidations", s.revalidations},
        {"proactive", s.proactive},
        {"store_hits", s.store_hits},
        {"timeouts", s.timeouts},
        {"overloaded", s.overloaded},
        {"rejected_keys", s.rejected_keys},
        {"cache_entries", cache.size()},
        {"policies", cache.positive_count()},
        {"negative", cache.negative_count()},
        {"in_flight", policies.in_flight()},
        {"dane", dane ? dane->status() : std::string_view("disabled")},
        {"dane_only_answers", s.dane_only},
        {"dane_answers", s.dane},
        {"dane_temp_answers", s.dane_temp},
        {"dane_lookups", dane ? dane->stats().lookups : 0},
        {"dane_failures", dane ? dane->stats().failures : 0},
        {"dane_stale_answers", dane ? dane->stats().stale_answers : 0},
        {"dane_cached", dane ? dane->cache().result_count() : 0},
        {"alarms", policies.alarms().size()},
        {"store_read_failures", s.store_unknown},
        {"store_unknown_temp", s.store_unknown_temp},
    });
  }

  // A list reply is written a chunk at a time: the snapshot holds only the
  // domain names of memory, and each chunk looks its policies up again (one may
  // have been purged or replaced in between: the reply shows it as it is then).
  // Then the policies only the store holds (memory is not the whole cache:
  // cache_size), read from it first, each listed with source "store".
  // export writes the same snapshot as JSON lines (control/transfer.hpp): the
  // header, the policies, then the DANE results memory holds, and an empty
  // line that ends the reply.
  enum class Listing { list, export_lines };

  void start_listing(resolver::PolicyResolver& policies, Listing kind) {
    listing_ = true;  // no other request is read meanwhile
    list_kind_ = kind;
    auto begin = [self = shared_from_this()](std::vector<cache::CachedPolicy> stored) {
      if (self->closed_) return;
      if (self->state_->policies == nullptr) return self->close("server stopped");
      self->begin_list(std::move(stored));
    };
    // export wants the text as fetched, which only the store keeps: every
    // stored policy, memory's included; then every stored DANE result, since
    // memory drops them too (cache_size).
    if (kind == Listing::export_lines) {
      return policies.stored().all(
          kMaxListedFromStore,
          [self = shared_from_this()](std::vector<cache::CachedPolicy> stored) {
            if (self->closed_) return;
            auto* current = self->state_->policies;
            if (current == nullptr) return self->close("server stopped");
            auto then = [self, stored = std::move(stored)](
                            std::vector<cache::CachedDane> stored_dane) mutable {
              if (self->closed_) return;
              if (self->state_->policies == nullptr) return self->close("server stopped");
              self->list_stored_dane_ = std::move(stored_dane);
              self->begin_list(std::move(stored));
            };
            if (auto* dane = current->dane()) {
              return dane->stored_results(kMaxListedFromStore, std::move(then));
            }
            then({});
          });
    }
    policies.stored().only_in_store(kMaxListedFromStore, begin);
  }

  void begin_list(std::vector<cache::CachedPolicy> stored) {
    const std::int64_t now = state_->clock->now();
    list_domains_.clear();
    list_domains_.reserve(state_->policies->cache().positive_count());
    // Expired policies no longer answer (RFC 8461 §5.1): they are not listed.
    const auto by_domain = [](const cache::CachedPolicy& p, const std::string& d) {
      return p.domain < d;
    };
    if (list_kind_ == Listing::export_lines) {
      std::sort(stored.begin(), stored.end(),
                [](const auto& a, const auto& b) { return a.domain < b.domain; });
    }
    state_->policies->cache().for_each_policy([&](const cache::CachedPolicy& p) {
      if (p.expired(now)) return;
      if (list_kind_ == Listing::export_lines) {
        // Written from the store's record (below), which has the text.
        const auto it = std::lower_bound(stored.begin(), stored.end(), p.domain, by_domain);
        if (it != stored.end() && it->domain == p.domain) return;
      }
      list_domains_.push_back(p.domain);
    });
    list_stored_ = std::move(stored);
    list_next_ = 0;
    list_first_ = true;
    list_dane_.clear();
    if (list_kind_ == Listing::export_lines) {
      // Results past keep_until answer nothing any more: not exported. Memory's,
      // then those only the store holds (or holds newer than memory).
      if (const auto* dane = state_->policies->dane()) {
        std::erase_if(list_stored_dane_, [&](const cache::CachedDane& d) {
          const auto* held = dane->cache().result(d.destination);
          return held != nullptr && held->usable_when_failing(now) &&
                 held->fetched_at >= d.fetched_at;
        });
        std::unordered_set<std::string_view> newer_in_store;
        for (const auto& d : list_stored_dane_) newer_in_store.insert(d.destination);
        dane->cache().for_each_result([&](const cache::CachedDane& d) {
          if (d.usable_when_failing(now) && newer_in_store.count(d.destination) == 0) {
            list_dane_.push_back(d.destination);
          }
        });
      }
      output_ = control::export_header_line(now) + "\n";
      fill_list_chunk();
      write();
      return;
    }
    output_ = "{\"policies\":[";
    fill_list_chunk();
    write();
  }

  // One listed policy, in the reply's form.
  void add_listed(const cache::CachedPolicy& p, std::string_view source) {
    if (list_kind_ == Listing::export_lines) {
      output_ += control::policy_line(p) + "\n";
      return;
    }
    if (!list_first_) output_ += ',';
    list_first_ = false;
    output_ += policy_json(p, source);
  }

  void fill_list_chunk() {
    const resolver::PolicyResolver* policies = state_->policies;
    const std::int64_t now = state_->clock->now();
    const std::size_t policy_total = list_domains_.size() + list_stored_.size();
    const std::size_t dane_total = policy_total + list_dane_.size();
    const std::size_t total = dane_total + list_stored_dane_.size();
    while (output_.size() < state_->options.chunk_bytes && list_next_ < total) {
      const std::size_t i = list_next_++;
      if (i < list_domains_.size()) {
        const cache::CachedPolicy* p = policies->cache().policy(list_domains_[i], now);
        if (p != nullptr) add_listed(*p, "memory");
        continue;
      }
      if (i < policy_total) {
        auto& stored = list_stored_[i - list_domains_.size()];
        if (stored.expired(now)) continue;
        const auto* held = list_kind_ == Listing::export_lines
                               ? policies->cache().policy(stored.domain, now)
                               : nullptr;
        if (held != nullptr && held->fetched_at > stored.fetched_at) {
          add_listed(*held, "memory");  // a save the store did not keep (yet)
          continue;
        }
        // Memory's refresh confirmed the id since the store's last write.
        if (held != nullptr) stored.checked_at = std::max(stored.checked_at, held->checked_at);
        add_listed(stored, "store");
        continue;
      }
      if (i < dane_total) {
        const auto* dane = policies->dane();
        const auto* d = dane ? dane->cache().result(list_dane_[i - policy_total]) : nullptr;
        if (d != nullptr && d->usable_when_failing(now)) output_ += control::dane_line(*d) + "\n";
        continue;
      }
      const auto& stored = list_stored_dane_[i - dane_total];
      if (stored.usable_when_failing(now)) output_ += control::dane_line(stored) + "\n";
    }
    if (list_next_ >= total) {
      if (list_kind_ == Listing::export_lines) {
        output_ += "\n";
      } else {
        // The list's closing part; the policies were written one by one above.
        output_ += "],\"negative\":" + std::to_string(policies->cache().negative_count()) + "}\n";
      }
      listing_ = false;
      std::vector<std::string>().swap(list_domains_);
      std::vector<cache::CachedPolicy>().swap(list_stored_);
      std::vector<std::string>().swap(list_dane_);
      std::vector<cache::CachedDane>().swap(list_stored_dane_);
    }
  }

  // ----- import: the lines after the request, up to an empty line -----------------

  // Takes the payload's lines one at a time; a record the lifecycle checks
  // against the store waits (recalling_) and resumes here.
  void next_import_line() {
    while (!closed_ && !recalling_) {
      const auto newline = input_.find('\n');
      const std::size_t limit = control::kMaxTransferLine + 2;  // the CR and LF
      if ((newline != std::string::npos && newline > limit) ||
          (newline == std::string::npos && input_.size() > limit)) {
        // Without its end the next line cannot be found: the import stops here.
        importing_ = false;
        discard_after_write_ = true;
        send(
            error_json(fmt::format("import line {} longer than {} bytes; stopped there after "
                                   "{} records imported",
                                   import_line_ + 1, control::kMaxTransferLine, import_.imported)) +
            "\n");
        return;
      }
      if (newline == std::string::npos) {
        if (!peer_done_) return read();
        // The client closed without the empty line: what came is imported.
        close_after_write_ = true;
        if (!input_.empty()) {
          std::string last = std::exchange(input_, {});
          if (!import_one(last)) return;
        }
        return finish_import();
      }
      std::string line = input_.substr(0, newline);
      input_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) return finish_import();
      if (!import_one(line)) return;  // waits for the lifecycle
    }
  }

  // False when the record waits for the lifecycle (which resumes the import).
  bool import_one(std::string_view text) {
    const std::size_t line = ++import_line_;
    auto decoded = control::decode_transfer_line(text);
    if (const auto* error = decoded.error()) {
      if (line == 1) import_header_ok_ = false;
      import_.refuse(line,
                     line == 1 || import_header_ok_ ? *error : "line 1 is not a valid header");
      return true;
    }
    const bool header = std::holds_alternative<control::ExportHeader>(decoded.value);
    if (line == 1) {
      // Without its header the file may be of another format or version: none
      // of it is read as records.
      import_header_ok_ = header;
      if (!header) {
        import_.refuse(line, fmt::format("not the header (kind \"{}\", version {})",
                                         control::kExportKind, control::kExportVersion));
      }
      return true;
    }
    if (!import_header_ok_) {
      import_.refuse(line, "line 1 is not a valid header");
      return true;
    }
    if (header) {
      import_.refuse(line, "a second header");
      return true;
    }
    resolver::PolicyResolver* policies = state_->policies;
    if (policies == nullptr) {
      close("server stopped");
      return false;
    }
    recalling_ = true;
    in_import_call_ = true;
    auto done = [self = shared_from_this(), line](resolver::Adoption adoption) {
      self->recalling_ = false;
      self->tally(line, std::move(adoption));
      if (!self->in_import_call_ && !self->closed_) self->next_request();
    };
    if (auto* policy = std::get_if<cache::CachedPolicy>(&decoded.value)) {
      policies->import_policy(std::move(*policy), done);
    } else if (auto* dane = policies->dane()) {
      dane->import_result(std::get<cache::CachedDane>(std::move(decoded.value)), done);
    } else {
      done({resolver::Adoption::Outcome::refused, "DANE is disabled in this daemon"});
    }
    in_import_call_ = false;
    return !recalling_;
  }

  void tally(std::size_t line, resolver::Adoption adoption) {
    using Outcome = resolver::Adoption::Outcome;
    if (adoption.outcome == Outcome::adopted) ++import_.imported;
    if (adoption.outcome == Outcome::older) ++import_.older;
    if (adoption.outcome == Outcome::refused) {
      spdlog::debug("control: import line {} refused: {}", line, adoption.reason);
      import_.refuse(line, std::move(adoption.reason));
    }
  }

  void finish_import() {
    importing_ = false;
    spdlog::info("control: import: {} records imported, {} refused, {} older than held",
                 import_.imported, import_.refused, import_.older);
    send(control::import_reply_json(std::exchange(import_, {})) + "\n");
  }

  void send(std::string reply) {
    output_ = std::move(reply);
    write();
  }

  void write() {
    writing_ = true;
    asio::async_write(
        socket_, asio::buffer(output_),
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(const error_code& ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      close(ec.message());
      return;
    }
    last_activity_ = Clock::now();
    if (listing_) {
      if (state_->policies == nullptr) {
        close("server stopped");
        return;
      }
      output_.clear();
      fill_list_chunk();
      write();
      return;
    }
    if (output_.capacity() > state_->options.chunk_bytes) std::string().swap(output_);
    if (close_after_write_) {
      close("done");
      return;
    }
    if (discard_after_write_) {
      error_code ignored;
      socket_.shutdown(asio::socket_base::shutdown_send, ignored);
      discard();
      return;
    }
    next_request();
  }

  // After an over-long line the client may still be sending: closing with
  // unread input would make the kernel reset the connection and destroy the
  // error reply before the client reads it. So the rest is read and dropped
  // (bounded; the idle timer also ends it) until the client closes.
  void discard() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              if (self->closed_) return;
                              self->discarded_ += n;
                              if (ec || self->discarded_ > kMaxDiscard) {
                                self->close("closed after an over-long request");
                                return;
                              }
                              self->discard();
                            });
  }

  // The deadline pattern: activity moves last_activity_; the timer compares.
  // It also catches a client that stops reading a long list reply.
  void arm_timer(Clock::time_point at) {
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
  }

  void on_timer(const error_code& ec) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    const auto deadline = last_activity_ + state_->options.idle_timeout;
    if (Clock::now() >= deadline) {
      close("idle timeout");
      return;
    }
    arm_timer(deadline);
  }

  std::shared_ptr<ControlServer::State> state_;
  socketmap::Socket socket_;
  asio::steady_timer timer_;
  Clock::time_point last_activity_;
  std::string input_;
  std::string output_;
  std::vector<std::string> list_domains_;
  std::vector<cache::CachedPolicy> list_stored_;
  std::vector<std::string> list_dane_;  // export: DANE destinations, after the policies
  // export: DANE results the store holds that memory does not (or older), last
  std::vector<cache::CachedDane> list_stored_dane_;
  Listing list_kind_ = Listing::list;
  bool importing_ = false;       // the lines read are an import's payload
  bool in_import_call_ = false;  // the lifecycle may answer before import_* returns
  std::size_t import_line_ = 0;
  bool import_header_ok_ = false;
  control::ImportTally import_;
  // Bounds what one list holds from the store at once (a record is ~0.5 KB).
  static constexpr std::size_t kMaxListedFromStore = 1'000'000;
  std::size_t list_next_ = 0;
  bool recalling_ = false;  // a show waits for the store: later requests wait too
  bool list_first_ = true;
  bool listing_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool peer_done_ = false;
  bool close_after_write_ = false;
  bool discard_after_write_ = false;
  std::size_t discarded_ = 0;
  bool closed_ = false;
  std::array<char, 4096> buffer_;
};

namespace {

void accept_next(const std::shared_ptr<ControlServer::State>& state);

void on_accept(const std::shared_ptr<ControlServer::State>& state, const error_code& ec,
               socketmap::Socket socket) {
  if (ec == asio::error::operation_aborted || !state->accepting || state->policies == nullptr ||
      !state->bound || !state->bound->acceptor.is_open()) {
    return;
  }
  if (ec) {
    // EMFILE and the like: the admin channel may wait; retrying at once would spin.
    spdlog::warn("control: accept failed: {}", ec.message());
    auto timer = std::make_shared<asio::steady_timer>(state->io, std::chrono::milliseconds(200));
    timer->async_wait([state, timer](const error_code& wait_ec) {
      if (!wait_ec && state->accepting) accept_next(state);
    });
    return;
  }
  std::string who;
  if (!peer_allowed(socket.native_handle(), who)) {
    spdlog::warn("control: refused a connection from {} (only root and the daemon's user)", who);
  } else if (state->connections.size() >= state->options.max_connections) {
    spdlog::warn("control: {} connections open; refused one from {}", state->connections.size(),
                 who);
  } else {
    spdlog::debug("control: connection from {}", who);
    std::make_shared<ControlConnection>(state, std::move(socket))->start();
  }
  accept_next(state);
}

void accept_next(const std::shared_ptr<ControlServer::State>& state) {
  state->bound->acceptor.async_accept(state->peer,
                                      [state](const error_code& ec, socketmap::Socket socket) {
                                        on_accept(state, ec, std::move(socket));
                                      });
}

}  // namespace

ControlServer::ControlServer(asio::io_context& io, ControlOptions options,
                             resolver::PolicyResolver& policies, std::vector<resolver::Zone> zones,
                             const util::Clock& clock)
    : state_(std::make_shared<State>(io, std::move(options), policies, std::move(zones), clock)) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
  if (state_->bound) throw std::logic_error("control server started twice");
  const std::string& path = state_->options.path;
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  state_->bound.emplace(socketmap::listen_unix(state_->io, path, state_->options.mode));
  state_->accepting = true;
  accept_next(state_);
}

void ControlServer::stop() {
  auto& state = *state_;
  state.accepting = false;
  if (state.bound && state.bound->acceptor.is_open()) {
    error_code ignored;
    state.bound->acceptor.close(ignored);
    if (state.bound->file) socketmap::remove_socket_file(*state.bound->file);
  }
  std::vector<std::shared_ptr<ControlConnection>> open;
  for (ControlConnection* connection : state.connections) {
    open.push_back(connection->shared_from_this());
  }
  for (const auto& connection : open) connection->close("server stopping");
  state.policies = nullptr;
  state.clock = nullptr;
}

std::size_t ControlServer::connection_count() const { return state_->connections.size(); }

void ControlServer::on_reload(std::function<std::string()> reload) {
  state_->reload = std::move(reload);
}

std::unique_ptr<ControlServer> start_control_server(asio::io_context& io,
                                                    const config::Config& config,
                                                    resolver::PolicyResolver& policies,
                                                    const util::Clock& clock) {
  ControlOptions options;
  options.path = control::control_socket_path(config);
  if (options.path.empty()) {
    spdlog::info("control socket: off (control_socket: none)");
    return nullptr;
  }
  const std::string path = options.path;
  auto server = std::make_unique<ControlServer>(io, std::move(options), policies,
                                                setup::zones(config), clock);
  try {
    server->start();
  } catch (const std::exception& e) {
    spdlog::error(
        "control socket: {}; mta-stsctl list/show/purge/prefetch/stats/export/import will not work",
        e.what());
    return nullptr;
  }
  spdlog::info("control socket: listening on {}", path);
  return server;
}

}  // namespace mtasts::daemon
