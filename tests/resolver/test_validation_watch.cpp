// ValidationWatch: whether the resolver validates DNSSEC, from the AD bits it
// sets; "inert" is said once, and the recovery once.
#include <doctest/doctest.h>

#include "resolver/validation_watch.hpp"
#include "support/log_capture.hpp"

using mtasts::resolver::ValidationWatch;
using mtasts_test::LogCapture;

TEST_CASE("one authenticated answer makes DANE active") {
  ValidationWatch watch;
  CHECK(watch.status() == "unknown");
  watch.lookup(false);
  CHECK(watch.status() == "unknown");
  watch.lookup(true);
  CHECK(watch.status() == "active");
  // Once validating, unsigned domains' answers change nothing.
  for (int i = 0; i < 50; ++i) watch.lookup(false);
  CHECK(watch.status() == "active");
}

TEST_CASE("a run of lookups without the AD bit makes DANE inert, said once") {
  LogCapture log;
  ValidationWatch watch;
  for (std::uint64_t i = 1; i < ValidationWatch::kInertAfter; ++i) watch.lookup(false);
  CHECK(watch.status() == "unknown");
  watch.lookup(false);
  CHECK(watch.status() == "inert");
  for (int i = 0; i < 20; ++i) watch.lookup(false);
  CHECK(log.count("DANE is inert") == 1);
  CHECK(log.count("in 10 lookups") == 1);

  watch.lookup(true);
  CHECK(watch.status() == "active");
  CHECK(log.count("the resolver now sets the AD bit") == 1);
}

TEST_CASE("the signed root's DNSKEY without the AD bit decides at once") {
  LogCapture log;
  ValidationWatch watch;
  watch.root_dnskey(false);
  CHECK(watch.status() == "inert");
  CHECK(log.count("DANE is inert") == 1);
}

TEST_CASE("the root's DNSKEY with the AD bit makes DANE active") {
  ValidationWatch watch;
  watch.root_dnskey(true);
  CHECK(watch.status() == "active");
  watch.root_dnskey(false);  // a later odd answer does not undo validation seen
  CHECK(watch.status() == "active");
}
