// TieredStore over two real SQLite stores: merging, fallback and the local copy,
// for policies and DANE results alike.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "cache/sqlite_store.hpp"
#include "cache/tiered_store.hpp"
#include "sqlite_test_support.hpp"
#include "store_records.hpp"
#include "sts/policy.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

using mtasts::cache::CachedPolicy;
using mtasts::cache::PolicyRead;
using mtasts::cache::SqliteStore;
using mtasts::cache::TieredStore;

using mtasts_test::LogCapture;

using Dir = mtasts_test::TempDir;
using mtasts_test::unix_now;

namespace {

CachedPolicy make(const std::string& domain, std::int64_t fetched_at, const std::string& id) {
  CachedPolicy p;
  p.domain = domain;
  p.txt_id = id;
  p.body = "version: STSv1\nmode: enforce\nmx: mx." + domain + "\nmax_age: 86400\n";
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + 86400;
  return p;
}

std::optional<CachedPolicy> fetch(mtasts::cache::PolicyStore& store, const std::string& domain) {
  std::optional<CachedPolicy> out;
  store.fetch(domain, [&](mtasts::cache::PolicyRead p_read) {
    std::optional<CachedPolicy> p = std::move(p_read.record);
    out = std::move(p);
  });
  return out;
}

}  // namespace

TEST_CASE("tiered store: writes reach both tiers; load_all keeps the newest of each domain") {
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save(make("both.example", 2000, "newer"));
    primary.save(make("primary-only.example", 1000, "p"));
    primary.flush();
    SqliteStore local(local_path);
    local.save(make("both.example", 1000, "older"));
    local.save(make("local-only.example", 1000, "l"));
    local.flush();
  }
  TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                     std::make_unique<SqliteStore>(local_path));
  std::map<std::string, std::string> ids;
  tiered.load_all([&](CachedPolicy p) { ids[p.domain] = p.txt_id; });
  CHECK(ids == std::map<std::string, std::string>{{"both.example", "newer"},
                                                  {"local-only.example", "l"},
                                                  {"primary-only.example", "p"}});
  tiered.save(make("new.example", 3000, "n"));
  tiered.remove("local-only.example");
  tiered.flush();
  SqliteStore primary(primary_path);
  SqliteStore local(local_path);
  CHECK(fetch(primary, "new.example").has_value());
  CHECK(fetch(local, "new.example").has_value());
  CHECK_FALSE(fetch(local, "local-only.example").has_value());
}

TEST_CASE("tiered store: fetch falls back to the local tier and copies primary hits locally") {
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save(make("shared.example", 1000, "s"));
    primary.flush();
    SqliteStore local(local_path);
    local.save(make("mine.example", 1000, "m"));
    local.flush();
  }
  {
    TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                       std::make_unique<SqliteStore>(local_path));
    auto shared = fetch(tiered, "shared.example");
    REQUIRE(shared.has_value());
    CHECK(shared->txt_id == "s");
    auto mine = fetch(tiered, "mine.example");
    REQUIRE(mine.has_value());
    CHECK(mine->txt_id == "m");
    CHECK_FALSE(fetch(tiered, "nowhere.example").has_value());
    tiered.flush();
  }
  SqliteStore local(local_path);
  CHECK(fetch(local, "shared.example").has_value());  // the copy made on the primary hit
}

TEST_CASE("tiered store: errors are counted per tier, the shared one first") {
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                     std::make_unique<SqliteStore>(local_path));
  tiered.save(make("one.example", 1000, "a"));
  tiered.flush();
  // The shared tier's table is dropped under it: its reads fail from now on.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(primary_path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DROP TABLE policies", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  std::optional<PolicyRead> got;
  tiered.fetch("two.example", [&](PolicyRead read) { got = std::move(read); });
  REQUIRE(got.has_value());  // the local tier answered: it holds all this daemon learned
  const auto errors = tiered.error_counts();
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].reads == 1);
  CHECK(errors[1].reads == 0);
}

namespace {

mtasts::cache::CachedDane dane_result(const std::string& destination, std::int64_t fetched_at,
                                      mtasts::dane::Level level) {
  mtasts::cache::CachedDane d;
  d.destination = destination;
  d.level = level;
  d.summary = "from " + std::to_string(fetched_at);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  d.fetched_at = now - 100 + fetched_at;
  d.expires_at = d.fetched_at + 300;
  d.keep_until = d.expires_at + 3600;
  return d;
}

std::optional<mtasts::cache::CachedDane> fetch_dane(mtasts::cache::PolicyStore& store,
                                                    const std::string& destination) {
  std::optional<mtasts::cache::CachedDane> out;
  store.fetch_dane(destination, [&](mtasts::cache::DaneRead d_read) {
    std::optional<mtasts::cache::CachedDane> d = std::move(d_read.record);
    out = std::move(d);
  });
  return out;
}

}  // namespace

TEST_CASE("tiered store, DANE: load keeps the newest of each destination; writes reach both") {
  using mtasts::cache::CachedDane;
  using mtasts::dane::Level;
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save_dane(dane_result("both.example", 20, Level::dane_only));
    primary.save_dane(dane_result("primary-only.example", 10, Level::dane));
    primary.flush();
    SqliteStore local(local_path);
    local.save_dane(dane_result("both.example", 10, Level::none));
    local.save_dane(dane_result("[local.example]:25", 10, Level::dane));
    local.save(make("local-only.example", 1000, "l"));
    local.save_dane(dane_result("local-only.example", 10, Level::dane));
    local.flush();
  }
  TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                     std::make_unique<SqliteStore>(local_path));
  std::map<std::string, Level> levels;
  tiered.load_all_dane([&](CachedDane d) { levels[d.destination] = d.level; });
  CHECK(levels == std::map<std::string, Level>{{"both.example", Level::dane_only},
                                               {"local-only.example", Level::dane},
                                               {"[local.example]:25", Level::dane},
                                               {"primary-only.example", Level::dane}});
  tiered.save_dane(dane_result("new.example", 30, Level::dane_only));
  tiered.remove("local-only.example");
  tiered.flush();
  SqliteStore primary(primary_path);
  SqliteStore local(local_path);
  CHECK(fetch_dane(primary, "new.example").has_value());
  CHECK(fetch_dane(local, "new.example").has_value());
  CHECK_FALSE(fetch_dane(local, "local-only.example").has_value());
  CHECK_FALSE(fetch(local, "local-only.example").has_value());
  CHECK(fetch_dane(local, "[local.example]:25").has_value());
}

TEST_CASE("tiered store, DANE: fetch falls back to the local tier and copies primary hits") {
  using mtasts::dane::Level;
  Dir dir;
  const auto primary_path = (dir.path / "primary.db").string();
  const auto local_path = (dir.path / "local.db").string();
  {
    SqliteStore primary(primary_path);
    primary.save_dane(dane_result("shared.example", 10, Level::dane_only));
    primary.flush();
    SqliteStore local(local_path);
    local.save_dane(dane_result("mine.example", 10, Level::dane));
    local.flush();
  }
  {
    TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                       std::make_unique<SqliteStore>(local_path));
    auto shared = fetch_dane(tiered, "shared.example");
    REQUIRE(shared.has_value());
    CHECK(shared->level == Level::dane_only);
    auto mine = fetch_dane(tiered, "mine.example");
    REQUIRE(mine.has_value());
    CHECK(mine->level == Level::dane);
    CHECK_FALSE(fetch_dane(tiered, "nowhere.example").has_value());
    tiered.flush();
  }
  SqliteStore local(local_path);
  auto copied = fetch_dane(local, "shared.example");  // the copy made on the primary hit
  REQUIRE(copied.has_value());
  CHECK(copied->level == Level::dane_only);
}

// ---- issue 16: the shared tier cannot downgrade what this daemon learned ------------

namespace {

CachedPolicy policy_of(const std::string& domain, const std::string& id, const std::string& mode,
                       const std::vector<std::string>& mx, std::int64_t fetched_at) {
  CachedPolicy p;
  p.domain = domain;
  p.txt_id = id;
  p.body = "version: STSv1\nmode: " + mode + "\n";
  for (const auto& m : mx) p.body += "mx: " + m + "\n";
  p.body += "max_age: 86400\n";
  auto parsed = mtasts::sts::parse_policy(p.body);
  REQUIRE(parsed.policy);
  p.policy = *parsed.policy;
  p.fetched_at = fetched_at;
  p.checked_at = fetched_at;
  p.expires_at = fetched_at + 86400;
  return p;
}

// A store that hands back whatever it holds, unchecked: what a careless or
// future backend (or a takeover reader) might do. TieredStore must still check.
class RawStore final : public mtasts::cache::PolicyStore {
 public:
  std::map<std::string, CachedPolicy> policies;
  std::map<std::string, mtasts::cache::CachedDane> danes;
  std::string describe() const override { return "raw"; }
  bool load_all(const std::function<void(CachedPolicy)>& sink) override {
    if (!failing.empty()) return false;
    for (const auto& [d, p] : policies) sink(p);
    return true;
  }
  std::string failing;  // non-empty: every read fails with this
  void fetch(const std::string& domain, std::function<void(PolicyRead)> done) override {
    if (!failing.empty()) return done(PolicyRead::failed(failing));
    auto it = policies.find(domain);
    done(it == policies.end() ? PolicyRead::absent() : PolicyRead::found(it->second));
  }
  void save(const CachedPolicy& p) override { policies[p.domain] = p; }
  void remove(const std::string& domain) override {
    policies.erase(domain);
    danes.erase(domain);
  }
  void load_all_dane(const std::function<void(mtasts::cache::CachedDane)>& sink) override {
    for (const auto& [d, r] : danes) sink(r);
  }
  void fetch_dane(const std::string& destination,
                  std::function<void(mtasts::cache::DaneRead)> done) override {
    if (!failing.empty()) return done(mtasts::cache::DaneRead::failed(failing));
    auto it = danes.find(destination);
    done(it == danes.end() ? mtasts::cache::DaneRead::absent()
                           : mtasts::cache::DaneRead::found(it->second));
  }
  void save_dane(const mtasts::cache::CachedDane& d) override { danes[d.destination] = d; }
  void flush() override {}
};

struct Case {
  const char* name;
  CachedPolicy local;
  CachedPolicy shared;
  bool shared_wins;
};

std::vector<Case> downgrade_cases() {
  const auto now = unix_now();
  const std::string d = "victim.example";
  const std::vector<std::string> two{"mx1.victim.example", "mx2.victim.example"};
  const auto local = policy_of(d, "id1", "enforce", two, now - 1000);
  const auto newer = now - 10;
  return {
      // Same id, weaker: the id names one policy (§3.1), so this one is forged or broken.
      {"same id, none", local, policy_of(d, "id1", "none", {}, newer), false},
      {"same id, testing", local, policy_of(d, "id1", "testing", two, newer), false},
      {"same id, fewer mx", local, policy_of(d, "id1", "enforce", {"mx1.victim.example"}, newer),
       false},
      {"same id, other mx", local, policy_of(d, "id1", "enforce", {"mx.attacker.example"}, newer),
       false},
      {"same id, testing to none", policy_of(d, "id1", "testing", two, now - 1000),
       policy_of(d, "id1", "none", {}, newer), false},
      // enforce to testing/none under any id: only our own fetch may confirm it.
      {"new id, testing", local, policy_of(d, "id2", "testing", two, newer), false},
      {"new id, none", local, policy_of(d, "id2", "none", {}, newer), false},
      // Not downgrades: the newer record wins as before.
      {"new id, enforce, new mx", local,
       policy_of(d, "id2", "enforce", {"mx.new.victim.example"}, newer), true},
      {"same policy, fetched again", local, policy_of(d, "id1", "enforce", two, newer), true},
      {"same id, testing to enforce", policy_of(d, "id1", "testing", two, now - 1000),
       policy_of(d, "id1", "enforce", two, newer), true},
      {"new id, testing to none", policy_of(d, "id1", "testing", two, now - 1000),
       policy_of(d, "id2", "none", {}, newer), true},
      // An expired local policy protects nothing (§5.1): the shared one applies.
      {"local enforce expired", policy_of(d, "id1", "enforce", two, now - 100000),
       policy_of(d, "id2", "none", {}, newer), true},
  };
}

}  // namespace

TEST_CASE("tiered store: a downgrade from the shared tier does not win over the local policy") {
  for (const auto& c : downgrade_cases()) {
    CAPTURE(c.name);
    Dir dir;
    const auto primary_path = (dir.path / "primary.db").string();
    const auto local_path = (dir.path / "local.db").string();
    {
      SqliteStore primary(primary_path);
      primary.save(c.shared);
      primary.flush();
      SqliteStore local(local_path);
      local.save(c.local);
      local.flush();
    }
    const auto& want = c.shared_wins ? c.shared : c.local;
    LogCapture log;
    {
      TieredStore tiered(std::make_unique<SqliteStore>(primary_path),
                         std::make_unique<SqliteStore>(local_path));
      std::vector<CachedPolicy> loaded;
      tiered.load_all([&](CachedPolicy p) { loaded.push_back(std::move(p)); });
      REQUIRE(loaded.size() == 1);
      CHECK(loaded[0].txt_id == want.txt_id);
      CHECK(loaded[0].policy == want.policy);

      auto fetched = fetch(tiered, "victim.example");
      REQUIRE(fetched.has_value());
      CHECK(fetched->txt_id == want.txt_id);
      CHECK(fetched->policy == want.policy);
      tiered.flush();
    }
    const auto refused = "not accepted from the shared store without our own fetch confirming it";
    if (c.shared_wins) {
      CHECK(log.count(refused) == 0);
    } else {
      // Load and fetch both refuse it; the warning names the domain and both states, once.
      CHECK(log.count(refused) == 1);
      CHECK(log.count("victim.example") >= 1);
      CHECK(log.count("mode " + std::string(mtasts::sts::to_string(c.local.policy.mode)) +
                      " id=" + c.local.txt_id) >= 1);
      CHECK(log.count("mode " + std::string(mtasts::sts::to_string(c.shared.policy.mode)) +
                      " id=" + c.shared.txt_id) >= 1);
      // The local tier still holds our own policy: the refused one was not copied in.
      SqliteStore local(local_path);
      auto kept = fetch(local, "victim.example");
      REQUIRE(kept.has_value());
      CHECK(kept->policy == c.local.policy);
      CHECK(kept->txt_id == c.local.txt_id);
    }
  }
}

TEST_CASE("tiered store: records from either tier are checked, whatever the tier checked") {
  const auto now = unix_now();
  auto primary = std::make_unique<RawStore>();
  auto local = std::make_unique<RawStore>();
  // Text and fields disagree: the text says none, the record says enforce.
  auto lying = policy_of("lying.example", "id1", "none", {}, now - 10);
  lying.policy.mode = mtasts::sts::Mode::enforce;
  lying.policy.mx = {"mx.lying.example"};
  primary->policies[lying.domain] = lying;
  local->policies["lying.example"] =
      policy_of("lying.example", "id0", "testing", {"mx.lying.example"}, now - 1000);
  // Stretched: max_age 86400, expiry a century away.
  auto stretched = policy_of("stretched.example", "id1", "enforce", {"mx.s.example"}, now - 10);
  stretched.expires_at = now + 100LL * 365 * 86400;
  primary->policies[stretched.domain] = stretched;
  // From the future, in the local tier.
  auto future = policy_of("future.example", "id1", "enforce", {"mx.f.example"}, now + 86400);
  local->policies[future.domain] = future;
  // DANE: kept for ten years past its expiry.
  mtasts::cache::CachedDane dane;
  dane.destination = "dane.example";
  dane.level = mtasts::dane::Level::dane_only;
  dane.fetched_at = now - 10;
  dane.expires_at = now + 300;
  dane.keep_until = now + 10LL * 365 * 86400;
  primary->danes[dane.destination] = dane;

  LogCapture log;
  TieredStore tiered(std::move(primary), std::move(local));
  std::map<std::string, std::string> loaded;
  tiered.load_all([&](CachedPolicy p) { loaded[p.domain] = p.txt_id; });
  CHECK(loaded == std::map<std::string, std::string>{{"lying.example", "id0"}});
  CHECK(log.count("policy text says mode none, the record mode enforce") >= 1);
  std::size_t danes = 0;
  tiered.load_all_dane([&](mtasts::cache::CachedDane) { ++danes; });
  CHECK(danes == 0);

  auto got = fetch(tiered, "lying.example");
  REQUIRE(got.has_value());
  CHECK(got->txt_id == "id0");
  CHECK_FALSE(fetch(tiered, "stretched.example").has_value());
  CHECK_FALSE(fetch(tiered, "future.example").has_value());
  CHECK_FALSE(fetch_dane(tiered, "dane.example").has_value());
  // Each logged once with its reason, not once per read.
  CHECK(log.count("'stretched.example'") == 1);
  CHECK(log.count("'future.example'") == 1);
}

TEST_CASE(
    "tiered store: 'absent' needs the local tier's word; a local tier that cannot read is "
    "unknown (issue 16)") {
  using mtasts::cache::DaneRead;
  const auto now = unix_now();
  const auto p = policy_of("a.example", "id1", "enforce", {"mx.a.example"}, now - 10);
  struct Want {
    const char* name;
    const char* shared_failing;
    const char* local_failing;
    bool shared_has, local_has;
    bool found, unknown;
  };
  const Want cases[] = {
      {"both answer, nothing", "", "", false, false, false, false},
      {"shared down, local answers nothing", "redis down", "", false, false, false, false},
      {"shared down, local has it", "redis down", "", false, true, true, false},
      {"local unreadable, shared has it", "", "disk I/O error", true, false, true, false},
      {"local unreadable, shared answers nothing", "", "disk I/O error", false, false, false, true},
      {"both down", "redis down", "disk I/O error", false, false, false, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto shared = std::make_unique<RawStore>();
    auto local = std::make_unique<RawStore>();
    shared->failing = c.shared_failing;
    local->failing = c.local_failing;
    if (c.shared_has) shared->policies[p.domain] = p;
    if (c.local_has) local->policies[p.domain] = p;
    mtasts::cache::CachedDane dane;
    dane.destination = "a.example";
    dane.fetched_at = now - 10;
    dane.expires_at = now + 300;
    dane.keep_until = now + 3600;
    if (c.shared_has) shared->danes[dane.destination] = dane;
    if (c.local_has) local->danes[dane.destination] = dane;
    TieredStore tiered(std::move(shared), std::move(local));
    std::optional<PolicyRead> got;
    tiered.fetch("a.example", [&](PolicyRead r) { got = std::move(r); });
    REQUIRE(got.has_value());
    CHECK(got->record.has_value() == c.found);
    CHECK(got->unknown() == c.unknown);
    if (c.unknown) CHECK(got->failure.find("disk I/O error") != std::string::npos);
    std::optional<DaneRead> dane_got;
    tiered.fetch_dane("a.example", [&](DaneRead r) { dane_got = std::move(r); });
    REQUIRE(dane_got.has_value());
    CHECK(dane_got->record.has_value() == c.found);
    CHECK(dane_got->unknown() == c.unknown);
  }
}

TEST_CASE("issue 16: with the local tier unreadable, only a shared enforce policy is taken") {
  // The downgrade rule needs our own copy; without it a shared testing or none
  // record might be replacing an enforce policy this daemon learned.
  const auto now = unix_now();
  for (const char* mode : {"enforce", "testing", "none"}) {
    CAPTURE(mode);
    auto shared = std::make_unique<RawStore>();
    auto local = std::make_unique<RawStore>();
    const std::vector<std::string> mx = std::string(mode) == "none"
                                            ? std::vector<std::string>{}
                                            : std::vector<std::string>{"mx.a.example"};
    shared->policies["a.example"] = policy_of("a.example", "id2", mode, mx, now - 10);
    local->failing = "disk I/O error";
    TieredStore tiered(std::move(shared), std::move(local));
    std::optional<PolicyRead> got;
    tiered.fetch("a.example", [&](PolicyRead r) { got = std::move(r); });
    REQUIRE(got.has_value());
    const bool enforce = std::string(mode) == "enforce";
    CHECK(got->record.has_value() == enforce);
    CHECK(got->unknown() == !enforce);
    if (!enforce) {
      CHECK(got->failure.find("disk I/O error") != std::string::npos);
      CHECK(got->failure.find(std::string("mode ") + mode) != std::string::npos);
    }
  }
}

TEST_CASE("issue 16: at start-up with the local tier unreadable, shared weaker policies wait") {
  const auto now = unix_now();
  auto shared = std::make_unique<RawStore>();
  auto local = std::make_unique<RawStore>();
  shared->policies["e.example"] =
      policy_of("e.example", "id1", "enforce", {"mx.e.example"}, now - 10);
  shared->policies["t.example"] =
      policy_of("t.example", "id1", "testing", {"mx.t.example"}, now - 10);
  shared->policies["n.example"] = policy_of("n.example", "id1", "none", {}, now - 10);
  local->failing = "disk I/O error";
  auto* local_tier = local.get();
  TieredStore tiered(std::move(shared), std::move(local));
  std::map<std::string, std::string> loaded;
  CHECK_FALSE(tiered.load_all([&](CachedPolicy p) { loaded[p.domain] = p.txt_id; }));
  CHECK(loaded.size() == 1);
  CHECK(loaded.count("e.example") == 1);
  // With the local tier readable (and empty) every shared policy loads.
  local_tier->failing.clear();
  loaded.clear();
  CHECK(tiered.load_all([&](CachedPolicy p) { loaded[p.domain] = p.txt_id; }));
  CHECK(loaded.size() == 3);
}
