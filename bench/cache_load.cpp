// mtasts-cache-load: how long start-up takes to load N persisted policies, and
// how much memory they take once loaded. It drives the daemon's own code: the
// SQLite store's load_all feeding the memory cache, as StoredPolicies::load
// does at start-up.
//
//   mtasts-cache-load --policies 100000 [--db PATH] [--json]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cache/sqlite_store.hpp"
#include "resolver/domain_cache.hpp"

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

mtasts::cache::CachedPolicy make_policy(std::size_t i, std::int64_t now) {
  // A typical real policy: two mx patterns, a day to a year of max_age.
  mtasts::cache::CachedPolicy p;
  p.domain = "domain" + std::to_string(i) + ".example";
  p.txt_id = "20240101T" + std::to_string(100000 + i % 900000);
  p.body = "version: STSv1\nmode: enforce\nmx: mx1." + p.domain + "\nmx: *.mx." + p.domain +
           "\nmax_age: 604800\n";
  p.fetched_at = now - static_cast<std::int64_t>(i % 86400);
  p.checked_at = p.fetched_at;
  p.expires_at = p.fetched_at + 604800;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mtasts-cache-load: start-up load time and memory per cached policy"};
  std::size_t count = 100000;
  std::string db;
  bool json = false;
  app.add_option("--policies", count, "policies in the database (default 100000)");
  app.add_option("--db", db, "database file (default: a temporary file, removed)");
  app.add_flag("--json", json, "one JSON object");
  CLI11_PARSE(app, argc, argv);

  const bool temporary = db.empty();
  if (temporary) db = "/tmp/mtasts-cache-load-" + std::to_string(::getpid()) + ".db";
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  {
    std::filesystem::remove(db);
    mtasts::cache::SqliteStore writer(db);
    for (std::size_t i = 0; i < count; ++i) writer.save(make_policy(i, now));
    writer.flush();
  }

  const long rss_before = rss_kib();
  const auto started = std::chrono::steady_clock::now();
  std::size_t loaded = 0;
  mtasts::resolver::DomainCache cache(count, {mtasts::sts::AnswerOptions{}});
  {
    mtasts::cache::SqliteStore store(db);
    store.load_all([&](mtasts::cache::CachedPolicy policy) {
      if (policy.expired(now)) return;
      cache.store_policy(std::move(policy));
      ++loaded;
    });
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  const long rss_after = rss_kib();
  const double bytes_per_policy =
      loaded ? static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(loaded)
             : 0.0;
  if (temporary) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  }
  if (loaded != count) {
    std::fprintf(stderr, "mtasts-cache-load: loaded %zu of %zu policies\n", loaded, count);
    return 1;
  }
  if (json) {
    std::printf(
        "{\"policies\": %zu, \"load_ms\": %.1f, \"rss_before_kib\": %ld, "
        "\"rss_after_kib\": %ld, \"bytes_per_policy\": %.0f}\n",
        loaded, ms, rss_before, rss_after, bytes_per_policy);
  } else {
    std::printf(
        "loaded %zu policies from SQLite into the memory cache in %.1f ms; "
        "RSS %ld -> %ld KiB (%.0f bytes per policy)\n",
        loaded, ms, rss_before, rss_after, bytes_per_policy);
  }
  return 0;
}
