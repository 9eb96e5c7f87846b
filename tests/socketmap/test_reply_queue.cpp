#include "socketmap/reply_queue.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using mtasts::socketmap::ReplyQueue;

namespace {

std::string take(ReplyQueue& queue) {
  std::string out;
  queue.take_output(out);
  return out;
}

}  // namespace

TEST_CASE("reply queue: replies completed in order are framed at once") {
  ReplyQueue queue;
  const auto a = queue.push();
  const auto b = queue.push();
  CHECK(queue.pending() == 2);
  CHECK(queue.complete(a, "OK a"));
  CHECK(queue.output_count() == 1);
  CHECK(queue.complete(b, "NOTFOUND "));
  CHECK(queue.pending() == 0);
  CHECK(queue.output_count() == 2);
  CHECK(take(queue) == "4:OK a,9:NOTFOUND ,");
  CHECK_FALSE(queue.has_output());
  CHECK(queue.output_count() == 0);
}

TEST_CASE("reply queue: a late head releases the replies waiting behind it") {
  ReplyQueue queue;
  const auto a = queue.push();
  const auto b = queue.push();
  const auto c = queue.push();
  CHECK(queue.complete(c, "OK c"));
  CHECK(queue.complete(b, "OK b"));
  CHECK_FALSE(queue.has_output());
  CHECK(queue.pending() == 3);
  CHECK(queue.complete(a, "OK a"));
  CHECK(take(queue) == "4:OK a,4:OK b,4:OK c,");
  CHECK(queue.pending() == 0);
}

TEST_CASE("reply queue: second and unknown completions are refused") {
  ReplyQueue queue;
  const auto a = queue.push();
  const auto b = queue.push();
  CHECK(queue.complete(b, "OK b"));
  CHECK_FALSE(queue.complete(b, "OK again"));
  CHECK(queue.complete(a, "OK a"));
  CHECK_FALSE(queue.complete(a, "OK again"));
  CHECK_FALSE(queue.complete(b + 1, "OK future"));
  CHECK(take(queue) == "4:OK a,4:OK b,");
}

TEST_CASE("reply queue: growing keeps order across the ring's wrap-around") {
  ReplyQueue queue;
  // Bursts completed newest first, with the oldest left open every other round,
  // so head and tail wrap the ring before and after it grows.
  std::vector<ReplyQueue::Sequence> open;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 1 + round % 7; ++i) {
      open.push_back(queue.push());
    }
    const std::size_t keep = static_cast<std::size_t>(round % 2);
    while (open.size() > keep) {
      CHECK(queue.complete(open.back(), std::to_string(open.back())));
      open.pop_back();
    }
  }
  while (!open.empty()) {
    CHECK(queue.complete(open.back(), std::to_string(open.back())));
    open.pop_back();
  }
  CHECK(queue.pending() == 0);
  const std::string out = take(queue);
  // Replies come out numbered 0, 1, 2, ... whatever order they completed in.
  std::size_t at = 0;
  ReplyQueue::Sequence want = 0;
  while (at < out.size()) {
    const auto colon = out.find(':', at);
    REQUIRE(colon != std::string::npos);
    const auto length = std::stoul(out.substr(at, colon - at));
    CHECK(out.substr(colon + 1, length) == std::to_string(want));
    ++want;
    at = colon + 1 + length + 1;
  }
  CHECK(want == 50 * 4 - 3);  // sum of 1 + round % 7 over 50 rounds
}
