// ZoneTable: socketmap names to zones, answer classes shared by zones that
// answer alike, and a reload's rule that an index always means one zone.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "resolver/zone_table.hpp"

namespace {

using namespace mtasts;
using resolver::Zone;
using resolver::ZoneTable;
using namespace std::chrono_literals;

Zone zone(std::string name, bool strict, std::chrono::milliseconds timeout = 4000ms) {
  Zone z;
  z.name = std::move(name);
  z.answer.strict_testing = strict;
  z.timeout = timeout;
  return z;
}

}  // namespace

TEST_CASE("no zones configured means one default zone") {
  const ZoneTable table({});
  CHECK(table.all().size() == 1);
  CHECK(table.index("anything") == 0);
  CHECK(table.classes().size() == 1);
}

TEST_CASE("names select their zones; unknown names and indices the default zone") {
  const ZoneTable table({zone("", false, 1000ms), zone("strict", true), zone("lax", false)});
  CHECK(table.index("strict") == 1);
  CHECK(table.index("lax") == 2);
  CHECK(table.index("") == 0);
  CHECK(table.index("other") == 0);
  CHECK(table[7].timeout == 1000ms);
  CHECK(table.answer_class(7) == 0);
}

TEST_CASE("zones that answer alike share an answer class") {
  const ZoneTable table({zone("", false), zone("strict", true), zone("lax", false)});
  REQUIRE(table.classes().size() == 2);
  CHECK(table.answer_class(0) == table.answer_class(2));
  CHECK(table.answer_class(1) != table.answer_class(0));
  CHECK(table.classes()[table.answer_class(1)].strict_testing);
}

TEST_CASE("a reload keeps indices, adds at the end and retires what is gone") {
  ZoneTable table({zone("", false), zone("a", true), zone("b", true)});

  auto changes = table.reconfigure({zone("", false, 2000ms), zone("b", false), zone("c", true)});
  CHECK(changes.added == std::vector<std::string>{"c"});
  CHECK(changes.retired == std::vector<std::string>{"a"});
  CHECK(table.index("b") == 2);  // kept its index, took the new options
  CHECK_FALSE(table[2].answer.strict_testing);
  CHECK(table.index("c") == 3);
  // "a" selects the default zone; its index answers as the default zone.
  CHECK(table.index("a") == 0);
  CHECK(table[1].retired);
  CHECK(table[1].timeout == 2000ms);
  CHECK(table.answer_class(1) == table.answer_class(0));

  SUBCASE("a retired name configured again gets its own index back") {
    changes =
        table.reconfigure({zone("", false), zone("a", true), zone("b", false), zone("c", true)});
    CHECK(changes.added == std::vector<std::string>{"a"});
    CHECK(changes.retired.empty());
    CHECK(table.index("a") == 1);
    CHECK_FALSE(table[1].retired);
    CHECK(table.all().size() == 4);
  }
  SUBCASE("retiring twice reports it once") {
    changes = table.reconfigure({zone("", false), zone("b", false), zone("c", true)});
    CHECK(changes.retired.empty());
    CHECK(changes.added.empty());
  }
}
