#include "socketmap/reply_queue.hpp"

#include <utility>

#include "socketmap/netstring.hpp"

namespace mtasts::socketmap {

namespace {
constexpr std::size_t kKeepReplyCapacity = 16 * 1024;
}  // namespace

ReplyQueue::Sequence ReplyQueue::push() {
  if (pending() == slots_.size()) {
    grow();
  }
  return next_++;
}

void ReplyQueue::grow() {
  // Slots are re-seated by sequence so the mask stays valid for the new size.
  std::vector<Slot> bigger(slots_.empty() ? 4 : slots_.size() * 2);
  for (Sequence seq = head_; seq != next_; ++seq) {
    bigger[static_cast<std::size_t>(seq) & (bigger.size() - 1)] = std::move(slot(seq));
  }
  slots_ = std::move(bigger);
}

bool ReplyQueue::complete(Sequence seq, std::string_view payload) {
  if (seq < head_ || seq >= next_) {
    return false;
  }
  if (seq != head_) {
    Slot& waiting = slot(seq);
    if (waiting.ready) {
      return false;
    }
    waiting.reply.assign(payload);  // reuses the slot's capacity from earlier requests
    waiting.ready = true;
    return true;
  }
  // The common case (a cache hit answered at once) frames straight into the output.
  append_netstring(output_, payload);
  ++output_count_;
  ++head_;
  while (head_ != next_ && slot(head_).ready) {
    Slot& ready = slot(head_);
    append_netstring(output_, ready.reply);
    ++output_count_;
    if (ready.reply.capacity() > kKeepReplyCapacity) {
      std::string().swap(ready.reply);  // one huge reply must not pin its memory
    } else {
      ready.reply.clear();
    }
    ready.ready = false;
    ++head_;
  }
  return true;
}

void ReplyQueue::take_output(std::string& into) {
  into.clear();
  std::swap(into, output_);
  output_count_ = 0;
}

}  // namespace mtasts::socketmap
