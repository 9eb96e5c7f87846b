#include "resolver/timers.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unordered_map>

namespace mtasts::resolver {

struct AsioTimers::Impl {
  explicit Impl(boost::asio::io_context& context) : io(context) {}
  boost::asio::io_context& io;
  Id next_id = 0;
  std::unordered_map<Id, std::unique_ptr<boost::asio::steady_timer>> timers;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

AsioTimers::AsioTimers(boost::asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}

AsioTimers::~AsioTimers() {
  *impl_->alive = false;
  for (auto& [id, timer] : impl_->timers) timer->cancel();
}

Timers::Id AsioTimers::at(MonoTime when, std::function<void()> fn) {
  const Id id = ++impl_->next_id;
  auto timer = std::make_unique<boost::asio::steady_timer>(impl_->io, when);
  timer->async_wait([impl = impl_.get(), alive = impl_->alive, id,
                     fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    impl->timers.erase(id);
    fn();
  });
  impl_->timers.emplace(id, std::move(timer));
  return id;
}

void AsioTimers::cancel(Id id) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return;
  it->second->cancel();
  // The handler still runs (operation_aborted) and owns nothing of the timer.
  impl_->timers.erase(it);
}

void AsioTimers::post(std::function<void()> fn) {
  boost::asio::post(impl_->io, [alive = impl_->alive, fn = std::move(fn)] {
    if (*alive) fn();
  });
}

std::size_t AsioTimers::pending() const { return impl_->timers.size(); }

}  // namespace mtasts::resolver
