#pragma once
// In-order replies for pipelined socketmap requests. Postfix matches replies to
// requests by position only (socketmap_table(5)), so a reply that completes early
// waits in its slot until every earlier one is ready. Sans-I/O: the connection
// takes the framed output and writes it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtasts::socketmap {

class ReplyQueue {
 public:
  using Sequence = std::uint64_t;

  // Reserves the next slot, in request order.
  Sequence push();
  // Records the reply for seq. Replies at the head go straight to the output as
  // netstrings, followed by any later ones that were waiting on it. Returns false
  // (and changes nothing) when seq is unknown or already completed.
  bool complete(Sequence seq, std::string_view payload);

  // Requests whose replies have not reached the output yet.
  std::size_t pending() const { return static_cast<std::size_t>(next_ - head_); }
  // Framed replies ready to write, in request order, and how many replies they are.
  bool has_output() const { return !output_.empty(); }
  std::size_t output_count() const { return output_count_; }
  // Moves the ready output into into (which is cleared first); both strings keep
  // their capacity, so a connection writing replies reuses two buffers.
  void take_output(std::string& into);

 private:
  struct Slot {
    std::string reply;
    bool ready = false;
  };
  Slot& slot(Sequence seq) { return slots_[static_cast<std::size_t>(seq) & (slots_.size() - 1)]; }
  void grow();

  std::vector<Slot> slots_;  // ring, size a power of two (or zero)
  Sequence head_ = 0;        // oldest request without its reply in output_
  Sequence next_ = 0;        // sequence the next push() gets
  std::string output_;
  std::size_t output_count_ = 0;
};

}  // namespace mtasts::socketmap
