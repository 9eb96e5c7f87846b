#pragma once
// Redis persistence: policies shared by a fleet of daemons (what one learned,
// the others read on a memory miss) and kept across restarts.
//
// One hiredis async connection runs on the daemon's io_context. Redis being
// down or slow never holds up an answer: a lookup gives up after
// min(command_timeout, 500 ms), writes are queued (bounded) while disconnected
// and sent after the reconnect, which backs off from reconnect_min to
// reconnect_max. The outage is logged once, and its end once.
//
// Keys are key_prefix + domain; values are redis_value.hpp's v1 form, and keys
// expire with the policy (SET ... EXAT expires_at, Redis >= 6.2). DANE results
// (RFC 7672) sit next to them under dane_key_prefix + destination, in the same
// form, expiring at their keep_until; the same link, queue and deadlines serve both.
//
// With `sentinel` set (cache.type redis_sentinel) the server is not the URL's:
// before every connection the sentinels are asked where the master is
// (redis_sentinel.hpp), on a thread of their own. Lookups fail ("cannot tell")
// and writes queue until a master is found; a master that turns out not to be
// one (ROLE in the handshake, a READONLY reply to a write) or that the
// sentinels replace (+switch-master) is left and the sentinels asked again.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cache/record_check.hpp"
#include "cache/redis_sentinel.hpp"
#include "cache/redis_url.hpp"
#include "cache/store.hpp"
#include "util/deadline_timer.hpp"

struct redisAsyncContext;

namespace mtasts::cache {

class RedisAsioAdapter;

struct RedisOptions {
  std::string url = "redis://localhost:6379/0";  // see redis_url.hpp; unused with sentinel
  // Set: the master is found through these sentinels (the timeouts below apply
  // to each sentinel too).
  std::optional<SentinelOptions> sentinel;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};  // also: no reply for this long = link dead
  std::string key_prefix = "mta-stsd:policy:";
  std::string dane_key_prefix = "mta-stsd:dane:";  // neither prefix may start the other
  std::size_t max_queued_writes = 10000;           // beyond: the oldest queued write is dropped
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{30000};
};

class RedisStore final : public PolicyStore {
 public:
  // A lookup on the hot miss path gives up quickly, whatever command_timeout says.
  static constexpr std::chrono::milliseconds kFetchTimeoutCap{500};
  static constexpr std::chrono::milliseconds kFlushBudget{2000};
  static constexpr std::size_t kMaxWritesInFlight = 1000;

  // Throws std::invalid_argument for a bad URL or sentinel options, or key
  // prefixes whose keys would mix (one starting the other). Starts connecting at once; the
  // connection completes when the io_context runs.
  RedisStore(boost::asio::io_context& io, RedisOptions options);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  std::string describe() const override;
  // Blocking, on its own short-lived connection (the loop is not running yet):
  // SCAN + MGET, each step bounded by the timeouts. Unreachable: one warning, and
  // the other load (policies or DANE results) right after does not wait again.
  bool load_all(const std::function<void(CachedPolicy)>& sink) override;
  void fetch(const std::string& domain, std::function<void(PolicyRead)> done) override;
  void save(const CachedPolicy& policy) override;
  // One DEL of both keys: the domain's policy and its DANE result.
  void remove(const std::string& domain) override;
  void load_all_dane(const std::function<void(CachedDane)>& sink) override;
  void fetch_dane(const std::string& destination, std::function<void(DaneRead)> done) override;
  void save_dane(const CachedDane& dane) override;
  std::vector<StoreErrorCounts> error_counts() const override {
    return {errors_.snapshot("redis")};
  }
  // Shutdown: at most kFlushBudget. Must run on the io_context's thread (or after
  // it stopped). It cannot run the io_context from inside a handler, so it drives
  // the live connection itself with poll(2) on its socket; writes still queued
  // without a live connection go over a short-lived blocking connection.
  void flush() override;

  bool connected() const { return state_ == LinkState::ready; }
  std::size_t queued_writes() const { return queue_.size() + in_flight_.size(); }

 private:
  // locating: the sentinels are being asked where the master is.
  enum class LinkState { down, locating, connecting, handshaking, ready };
  enum class ReplyKind : std::uintptr_t { fetch = 0, write = 1, handshake = 2, handshake_done = 3 };
  struct Write {
    bool remove = false;
    std::string key;
    std::string also_key;  // remove only: deleted with key when not empty
    std::string value;
    std::int64_t expires_at = 0;  // the key's expiry
  };
  // Runs once: with the stored value, or std::nullopt (miss, error, timeout,
  // teardown). Decodes and calls the caller's done.
  // A GET's outcome: the value, no key (value empty, failure empty), or why there
  // is no answer (not connected, timed out, an error reply, the link lost).
  struct RawRead {
    std::optional<std::string_view> value;
    std::string failure;
  };
  using FetchCompletion = std::function<void(RawRead)>;
  struct PendingFetch {
    std::string name;  // domain or destination, for logs
    FetchCompletion complete;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  // How a start-up load names and reads one kind of record.
  struct LoadKind {
    const std::string& prefix;
    const char* plural;  // "policies"
    const char* value;   // "value", "DANE value"
    // Hands a decoded record to the caller's sink; false with why set when unusable.
    std::function<bool(const std::string& name, std::string_view value, std::string& why)> take;
  };
  using Clock = std::chrono::steady_clock;

  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata);

  void connect();
  void connect_to(const RedisEndpoint& endpoint);
  void located(SentinelAnswer answer);
  void master_switched(const std::string& host, int port);
  // The endpoint for a blocking connection (start-up load, last flush): the
  // URL's, or the master the sentinels name now. Null with why set.
  std::optional<RedisEndpoint> sync_endpoint(std::chrono::milliseconds connect_timeout,
                                             std::chrono::milliseconds command_timeout,
                                             std::string& why);
  void drop_link(const std::string& why);
  void link_gone(const std::string& why);
  void handle_reply(redisAsyncContext* context, ReplyKind kind, std::uint64_t id, void* reply);
  void start_fetch(const std::string& key, const std::string& name, FetchCompletion complete);
  void finish_fetch(std::uint64_t id, RawRead read);
  bool load_keys(const LoadKind& kind);  // false: not read to the end
  bool send(ReplyKind kind, std::uint64_t id, const std::vector<std::string_view>& args);
  void enqueue(Write write);
  void pump_writes();
  void send_write(Write write);
  void arm_timer();
  void on_timer();
  void flush_live(Clock::time_point deadline);
  void flush_blocking(Clock::time_point deadline);
  std::optional<Clock::time_point> next_deadline() const;

  boost::asio::io_context& io_;
  RedisOptions options_;
  RedisEndpoint endpoint_;                    // the URL's, or the master last located
  std::unique_ptr<SentinelLocator> locator_;  // set with options.sentinel
  std::string last_failure_;                  // why the link is down, for failed lookups

  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<RedisAsioAdapter> adapter_;
  std::shared_ptr<RedisAsioAdapter> retired_adapter_;  // kept until hiredis can no longer call it
  LinkState state_ = LinkState::down;
  Clock::time_point link_deadline_{};
  Clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_;
  std::deque<Clock::time_point> awaiting_reply_;  // send times, in reply order

  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, PendingFetch> fetches_;
  std::deque<std::pair<std::uint64_t, Write>> in_flight_;
  std::deque<Write> queue_;

  util::DeadlineTimer timer_;

  std::optional<Clock::time_point> load_unreachable_at_;  // a start-up load could not connect
  bool ever_connected_ = false;
  bool outage_logged_ = false;
  bool drops_logged_ = false;
  bool write_failing_ = false;
  bool not_master_logged_ = false;  // sentinel mode: "is not a master" said since the last link
  bool stopping_ = false;
  StoreErrorCounters errors_;
  LogOnce rejected_;  // unusable values, by key: logged once each
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // asio handlers check it
};

}  // namespace mtasts::cache
