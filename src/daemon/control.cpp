#include "daemon/control.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

#include "control/transfer.hpp"
#include "daemon/control_import.hpp"
#include "daemon/control_listing.hpp"
#include "daemon/control_replies.hpp"
#include "resolver/dane_discovery.hpp"
#include "setup/setup.hpp"
#include "socketmap/accept_loop.hpp"
#include "socketmap/listener.hpp"
#include "socketmap/stream_connection.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"

namespace mtasts::daemon {

namespace asio = boost::asio;
using control::ControlRequest;
using control::error_json;
using control::parse_control_request;

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
  // Holds this state through its take until closed (stop).
  std::shared_ptr<socketmap::AcceptLoop> accept;
  std::unordered_set<ControlConnection*> connections;
};

namespace {

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

// One admin's connection: request lines in, one reply each (a list's written a
// chunk at a time); the reading, deadlines and goodbye are StreamConnection's.
class ControlConnection final : public socketmap::StreamConnection {
 public:
  ControlConnection(std::shared_ptr<ControlServer::State> state, socketmap::Socket socket)
      : StreamConnection(std::move(socket)), state_(std::move(state)) {}
  ~ControlConnection() override {
    if (!closed()) state_->connections.erase(this);
  }

  void start() {
    state_->connections.insert(this);
    arm_deadline(last_activity() + state_->options.idle_timeout);
    next_request();
  }

 private:
  std::shared_ptr<ControlConnection> self() {
    return std::static_pointer_cast<ControlConnection>(shared_from_this());
  }

  void on_closed(std::string_view why) override {
    state_->connections.erase(this);
    spdlog::debug("control: closed a connection: {}", why);
  }

  void on_input(std::string_view bytes) override {
    input_.append(bytes);
    next_request();
  }

  void on_end_of_input() override { next_request(); }

  // A client that sends nothing, or stops reading a long list reply, for
  // idle_timeout is dropped. Waiting on our side (the store read of a show, a
  // list or an export; an import's record) is not the client's idleness: a slow
  // store has its own deadlines, and the client gets the answer they lead to.
  void on_deadline(Clock::time_point now) override {
    if (recalling_ || (listing_ && !writing_)) {
      arm_deadline(now + state_->options.idle_timeout);
      return;
    }
    const auto deadline = last_activity() + state_->options.idle_timeout;
    if (now >= deadline) {
      close("idle timeout");
      return;
    }
    arm_deadline(deadline);
  }

  // Answers the next buffered request line, or reads more.
  void next_request() {
    if (closed() || writing_ || reading() || recalling_) return;
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
    if (peer_done()) {
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
      start_listing(*policies, PolicyListing::Kind::list);
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
      start_listing(*policies, PolicyListing::Kind::export_lines);
      return;
    }
    if (request.command == Command::import_) {
      importing_ = true;
      import_ = {};
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
          policies->stored().recall(domain, [self = self(), domain, dane_key] {
            self->recalling_ = false;
            const auto* current = self->state_->policies;
            if (self->closed() || current == nullptr) return;
            self->send(show_json(*current, domain, dane_key, self->state_->clock->now()) + "\n");
          });
          return;
        }
        reply = show_json(*policies, domain, dane_key, now);
        break;
      case Command::purge: {
        const bool had = policies->purge(domain, dane_key);
        reply = control::purge_json(domain, had);
        break;
      }
      case Command::prefetch: {
        const bool started = policies->prefetch(domain);
        const bool cached = policies->cache().policy(domain, now) != nullptr;
        spdlog::debug("control: prefetch {}: {}", domain,
                      started ? "started" : (cached ? "cached" : "not started"));
        reply = control::prefetch_json(domain, started, cached);
        break;
      }
      default:
        reply = error_json("internal error");
        break;
    }
    send(reply + "\n");
  }

  // list and export (daemon/control_listing.hpp): the records only the store
  // holds are read first; meanwhile no other request is read.
  void start_listing(resolver::PolicyResolver& policies, PolicyListing::Kind kind) {
    listing_ = true;
    auto begin = [self = self(), kind](std::vector<cache::CachedPolicy> stored,
                                       std::vector<cache::CachedDane> stored_dane) {
      if (self->closed()) return;
      const auto* current = self->state_->policies;
      if (current == nullptr) return self->close("server stopped");
      const std::int64_t now = self->state_->clock->now();
      self->listing_state_.begin(kind, *current, std::move(stored), std::move(stored_dane), now,
                                 self->output_);
      self->fill_listing();
      self->write();
    };
    if (kind == PolicyListing::Kind::list) {
      return policies.stored().only_in_store(
          kMaxListedFromStore,
          [begin](std::vector<cache::CachedPolicy> stored) { begin(std::move(stored), {}); });
    }
    // export wants the text as fetched, which only the store keeps: every
    // stored policy, memory's included; then every stored DANE result, since
    // memory drops them too (cache_size).
    policies.stored().all(kMaxListedFromStore,
                          [self = self(), begin](std::vector<cache::CachedPolicy> stored) mutable {
                            if (self->closed()) return;
                            auto* current = self->state_->policies;
                            if (current == nullptr) return self->close("server stopped");
                            auto then = [begin, stored = std::move(stored)](
                                            std::vector<cache::CachedDane> stored_dane) mutable {
                              begin(std::move(stored), std::move(stored_dane));
                            };
                            if (auto* dane = current->dane()) {
                              return dane->stored_results(kMaxListedFromStore, std::move(then));
                            }
                            then({});
                          });
  }

  void fill_listing() {
    if (listing_state_.fill(*state_->policies, state_->clock->now(), state_->options.chunk_bytes,
                            output_)) {
      listing_ = false;
    }
  }

  // ----- import: the lines after the request, up to an empty line -----------------

  // Takes the payload's lines one at a time; a record the lifecycle checks
  // against the store waits (recalling_) and resumes here.
  void next_import_line() {
    while (!closed() && !recalling_) {
      const auto newline = input_.find('\n');
      const std::size_t limit = control::kMaxTransferLine + 2;  // the CR and LF
      if ((newline != std::string::npos && newline > limit) ||
          (newline == std::string::npos && input_.size() > limit)) {
        // Without its end the next line cannot be found: the import stops here.
        importing_ = false;
        discard_after_write_ = true;
        send(error_json(fmt::format("import line {} longer than {} bytes; stopped there after "
                                    "{} records imported",
                                    import_.line() + 1, control::kMaxTransferLine,
                                    import_.imported())) +
             "\n");
        return;
      }
      if (newline == std::string::npos) {
        if (!peer_done()) return read();
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
    auto record = import_.take(text);
    if (!record) return true;  // the header, or refused
    resolver::PolicyResolver* policies = state_->policies;
    if (policies == nullptr) {
      close("server stopped");
      return false;
    }
    const std::size_t line = import_.line();
    recalling_ = true;
    in_import_call_ = true;
    auto done = [self = self(), line](resolver::Adoption adoption) {
      self->recalling_ = false;
      self->import_.adopted(line, std::move(adoption));
      if (!self->in_import_call_ && !self->closed()) self->next_request();
    };
    if (auto* policy = std::get_if<cache::CachedPolicy>(&*record)) {
      policies->import_policy(std::move(*policy), done);
    } else if (auto* dane = policies->dane()) {
      dane->import_result(std::get<cache::CachedDane>(std::move(*record)), done);
    } else {
      done({resolver::Adoption::Outcome::refused, "DANE is disabled in this daemon"});
    }
    in_import_call_ = false;
    return !recalling_;
  }

  void finish_import() {
    importing_ = false;
    send(import_.finish() + "\n");
  }

  void send(std::string reply) {
    output_ = std::move(reply);
    write();
  }

  void write() {
    writing_ = true;
    asio::async_write(socket(), asio::buffer(output_),
                      [self = self()](const error_code& ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(const error_code& ec) {
    writing_ = false;
    if (closed()) return;
    if (ec) {
      close(ec.message());
      return;
    }
    touch();
    if (listing_) {
      if (state_->policies == nullptr) {
        close("server stopped");
        return;
      }
      output_.clear();
      fill_listing();
      write();
      return;
    }
    if (output_.capacity() > state_->options.chunk_bytes) std::string().swap(output_);
    if (close_after_write_) {
      close("done");
      return;
    }
    if (discard_after_write_) {
      // The client may still be sending the rest of its over-long line.
      linger(state_->options.idle_timeout, "closed after an over-long request");
      return;
    }
    next_request();
  }

  std::shared_ptr<ControlServer::State> state_;
  std::string input_;
  std::string output_;
  PolicyListing listing_state_;
  bool importing_ = false;       // the lines read are an import's payload
  bool in_import_call_ = false;  // the lifecycle may answer before the import call returns
  ImportSession import_;
  // Bounds what one list holds from the store at once (a record is ~0.5 KB).
  static constexpr std::size_t kMaxListedFromStore = 1'000'000;
  bool recalling_ = false;  // a show waits for the store: later requests wait too
  bool listing_ = false;
  bool writing_ = false;
  bool close_after_write_ = false;
  bool discard_after_write_ = false;
};

namespace {

// The server's part of each accept: only root and the daemon's user, at most
// max_connections at once. (The loop calls take only while open, and stop
// closes it first.)
void take_connection(const std::shared_ptr<ControlServer::State>& state,
                     socketmap::Socket& socket) {
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
}

}  // namespace

ControlServer::ControlServer(asio::io_context& io, ControlOptions options,
                             resolver::PolicyResolver& policies, std::vector<resolver::Zone> zones,
                             const util::Clock& clock)
    : state_(std::make_shared<State>(io, std::move(options), policies, std::move(zones), clock)) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
  if (state_->accept) throw std::logic_error("control server started twice");
  const std::string& path = state_->options.path;
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  state_->accept = std::make_shared<socketmap::AcceptLoop>(
      socketmap::listen_unix(state_->io, path, state_->options.mode), "control",
      [state = state_](const socketmap::AcceptLoop&, socketmap::Socket& socket,
                       const socketmap::Endpoint&) { take_connection(state, socket); });
  state_->accept->start();
}

void ControlServer::stop() {
  auto& state = *state_;
  if (state.accept) state.accept->close();
  std::vector<std::shared_ptr<socketmap::StreamConnection>> open;
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
