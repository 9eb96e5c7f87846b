#include "http/fetcher.hpp"

#include <deque>
#include <unordered_map>
#include <utility>

#include <boost/asio/post.hpp>

#include "http/multi_driver.hpp"
#include "http/transfer.hpp"

namespace mtasts::http {

struct Fetcher::Impl {
  Impl(boost::asio::io_context& io, FetcherOptions opts) : io(io), options(std::move(opts)) {
    if (options.max_concurrent == 0) options.max_concurrent = 1;
    set_ca_file(options.ca_file);
  }

  void set_ca_file(const std::string& ca_file) {
    // The system store, named as a file: the parsed bundle is then cached (see
    // Transfer::prepare). Without a compiled-in bundle curl's defaults stay.
    options.ca_file = ca_file.empty() ? curl_default_ca_bundle() : ca_file;
  }

  ~Impl() {
    // Stop running transfers before the multi handle goes; every caller still
    // hears back, from the io_context.
    for (auto& [easy, transfer] : running) {
      driver->remove(easy);
      complete_with_error(*transfer, "shutdown");
    }
    running.clear();
    for (auto& transfer : waiting) complete_with_error(*transfer, "shutdown");
    waiting.clear();
  }

  void complete(Transfer& transfer, FetchResult result) {
    boost::asio::post(
        io, [done = transfer.take_done(), count = pending, result = std::move(result)]() mutable {
          --*count;
          done(std::move(result));
        });
  }

  void complete_with_error(Transfer& transfer, std::string error) {
    FetchResult result;
    result.error = std::move(error);
    result.failure = FetchFailure::other;
    complete(transfer, std::move(result));
  }

  void start(std::unique_ptr<Transfer> transfer) {
    if (auto error = transfer->prepare(options, &MultiDriver::close_socket, driver.get())) {
      complete_with_error(*transfer, std::move(*error));
      return;
    }
    CURL* easy = transfer->easy();
    auto& slot = running[easy];
    slot = std::move(transfer);
    if (!driver->add(easy)) {
      complete_with_error(*slot, "curl refused the transfer");
      running.erase(easy);
    }
  }

  void on_done(CURL* easy, CURLcode code) {
    auto it = running.find(easy);
    if (it == running.end()) return;
    std::unique_ptr<Transfer> transfer = std::move(it->second);
    running.erase(it);
    complete(*transfer, transfer->result(code));
    transfer.reset();  // curl_easy_cleanup
    start_waiting();
  }

  void start_waiting() {
    while (!waiting.empty() && running.size() < options.max_concurrent) {
      auto next = std::move(waiting.front());
      waiting.pop_front();
      start(std::move(next));
    }
  }

  boost::asio::io_context& io;
  FetcherOptions options;
  std::shared_ptr<std::size_t> pending = std::make_shared<std::size_t>(0);
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> running;
  std::deque<std::unique_ptr<Transfer>> waiting;  // FIFO beyond max_concurrent
  // Declared last, destroyed first: curl_multi_cleanup needs only the driver.
  std::shared_ptr<MultiDriver> driver;
};

Fetcher::Fetcher(boost::asio::io_context& io, FetcherOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {
  impl_->driver = MultiDriver::create(
      io, [impl = impl_.get()](CURL* easy, CURLcode code) { impl->on_done(easy, code); });
}

Fetcher::~Fetcher() = default;

void Fetcher::fetch(FetchRequest request, std::function<void(FetchResult)> done) {
  ++*impl_->pending;
  auto transfer = std::make_unique<Transfer>(std::move(request), std::move(done));
  if (impl_->running.size() < impl_->options.max_concurrent) {
    impl_->start(std::move(transfer));
  } else {
    impl_->waiting.push_back(std::move(transfer));
  }
}

std::size_t Fetcher::pending() const { return *impl_->pending; }

void Fetcher::set_ca_file(const std::string& ca_file) { impl_->set_ca_file(ca_file); }

void Fetcher::set_max_concurrent(std::size_t max_concurrent) {
  impl_->options.max_concurrent = max_concurrent == 0 ? 1 : max_concurrent;
  impl_->start_waiting();
}

}  // namespace mtasts::http
