// setup::local_cache_file: the SQLite file each cache type keeps on this machine,
// which the daemon hands to the user it drops privileges to. A shared type that
// forgot its local tier here would leave that file owned by root, and the
// unprivileged daemon could no longer write what it learns.
#include <doctest/doctest.h>

#include "setup/setup.hpp"

using mtasts::config::CacheConfig;
using mtasts::setup::local_cache_file;

TEST_CASE("every type with a SQLite file names it; the memory types name none") {
  for (const char* type : {"sqlite", "redis", "redis_sentinel", "postgres"}) {
    CAPTURE(type);
    CacheConfig cache;
    cache.type = type;
    cache.filename = "/var/lib/mta-stsd/fleet.db";
    CHECK(local_cache_file(cache) == "/var/lib/mta-stsd/fleet.db");
    cache.filename.clear();
    CHECK(local_cache_file(cache) == mtasts::setup::default_cache_path());
  }
  for (const char* type : {"internal", "memory"}) {
    CAPTURE(type);
    CacheConfig cache;
    cache.type = type;
    cache.filename = "/var/lib/mta-stsd/unused.db";
    CHECK_FALSE(local_cache_file(cache).has_value());
  }
}
