#include "daemon/control.hpp"

#include <sys/socket.h>
#include <unistd.h>

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
#include "daemon/control_import.hpp"
#include "daemon/control_listing.hpp"
#include "daemon/control_replies.hpp"
#include "resolver/dane_discovery.hpp"
#include "setup/setup.hpp"
#include "socketmap/listener.hpp"
#include "sts/answer.hpp"
#include "sts/query_key.hpp"

namespace mtasts::daemon {

namespace asio = boost::asio;
using boost::system::error_code;
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
          policies->stored().recall(domain, [self = shared_from_this(), domain, dane_key] {
            self->recalling_ = false;
            const auto* current = self->state_->policies;
            if (self->closed_ || current == nullptr) return;
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
    auto begin = [self = shared_from_this(), kind](std::vector<cache::CachedPolicy> stored,
                                                   std::vector<cache::CachedDane> stored_dane) {
      if (self->closed_) return;
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
    policies.stored().all(
        kMaxListedFromStore,
        [self = shared_from_this(), begin](std::vector<cache::CachedPolicy> stored) mutable {
          if (self->closed_) return;
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
    while (!closed_ && !recalling_) {
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
    auto done = [self = shared_from_this(), line](resolver::Adoption adoption) {
      self->recalling_ = false;
      self->import_.adopted(line, std::move(adoption));
      if (!self->in_import_call_ && !self->closed_) self->next_request();
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
  PolicyListing listing_state_;
  bool importing_ = false;       // the lines read are an import's payload
  bool in_import_call_ = false;  // the lifecycle may answer before the import call returns
  ImportSession import_;
  // Bounds what one list holds from the store at once (a record is ~0.5 KB).
  static constexpr std::size_t kMaxListedFromStore = 1'000'000;
  bool recalling_ = false;  // a show waits for the store: later requests wait too
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
