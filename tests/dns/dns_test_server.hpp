#pragma once
// A scriptable DNS server on 127.0.0.1 (UDP and TCP on one port) for the
// resolver tests. It runs its own io_context on a thread; each test installs a
// handler that turns a query into a reply (or nothing, to drop it).
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "dns/ldns.hpp"

namespace mtasts::dns::testing {

using Bytes = std::vector<unsigned char>;

// The question of a query, as the tests match on it.
struct Question {
  std::string name;  // lower-case, with trailing dot
  ldns_rr_type type = LDNS_RR_TYPE_A;
  bool ad = false;             // AD bit in the query
  bool dnssec_ok = false;      // EDNS0 DO bit
  std::uint16_t udp_size = 0;  // EDNS0 payload size, 0 without OPT
};

inline std::optional<Question> question_of(const Bytes& query) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, query.data(), query.size()) != LDNS_STATUS_OK) return std::nullopt;
  std::optional<Question> q;
  const ldns_rr_list* qs = ldns_pkt_question(pkt);
  if (qs != nullptr && ldns_rr_list_rr_count(qs) == 1) {
    const ldns_rr* rr = ldns_rr_list_rr(qs, 0);
    char* text = ldns_rdf2str(ldns_rr_owner(rr));
    q = Question{text, ldns_rr_get_type(rr), ldns_pkt_ad(pkt), ldns_pkt_edns_do(pkt),
                 ldns_pkt_edns(pkt) ? ldns_pkt_edns_udp_size(pkt) : std::uint16_t{0}};
    for (auto& c : q->name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::free(text);
  }
  ldns_pkt_free(pkt);
  return q;
}

struct ReplySpec {
  ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
  std::vector<std::string> answers;    // zone-file lines, e.g. "a.example. 300 IN TXT \"x\""
  std::vector<std::string> authority;  // e.g. the SOA of a negative answer
  bool ad = false;
  bool tc = false;
};

// A reply to `query` (same ID and question) built with ldns.
inline Bytes make_reply(const Bytes& query, const ReplySpec& spec) {
  ldns_pkt* q = nullptr;
  if (ldns_wire2pkt(&q, query.data(), query.size()) != LDNS_STATUS_OK) {
    throw std::runtime_error("test server: unparsable query");
  }
  ldns_pkt* r = ldns_pkt_new();
  ldns_pkt_set_id(r, ldns_pkt_id(q));
  ldns_pkt_set_qr(r, true);
  ldns_pkt_set_rd(r, ldns_pkt_rd(q));
  ldns_pkt_set_ra(r, true);
  ldns_pkt_set_ad(r, spec.ad);
  ldns_pkt_set_tc(r, spec.tc);
  ldns_pkt_set_rcode(r, static_cast<uint8_t>(spec.rcode));
  ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION,
                   ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
  for (const auto& line : spec.answers) {
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) {
      throw std::runtime_error("test server: bad record " + line);
    }
    ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr);
  }
  for (const auto& line : spec.authority) {
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) {
      throw std::runtime_error("test server: bad record " + line);
    }
    ldns_pkt_push_rr(r, LDNS_SECTION_AUTHORITY, rr);
  }
  if (ldns_pkt_edns(q)) ldns_pkt_set_edns_udp_size(r, 1232);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, r, &size) != LDNS_STATUS_OK) throw std::runtime_error("pkt2wire");
  Bytes out(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(r);
  ldns_pkt_free(q);
  return out;
}

// A reply whose header and question are right (so c-ares accepts it) but
// whose answer section is cut off in the middle of a record.
inline Bytes make_broken_reply(const Bytes& query) {
  std::size_t pos = 12;
  while (pos < query.size() && query[pos] != 0) pos += query[pos] + 1u;
  pos += 1 + 4;  // root label, QTYPE, QCLASS
  Bytes out(query.begin(), query.begin() + static_cast<long>(std::min(pos, query.size())));
  out[2] |= 0x80;                                         // QR
  out[3] = 0x80;                                          // RA, NOERROR
  out[6] = 0, out[7] = 1;                                 // ANCOUNT 1
  out[8] = out[9] = 0;                                    // NSCOUNT
  out[10] = out[11] = 0;                                  // ARCOUNT
  out.insert(out.end(), {0xc0, 0x0c, 0x00, 0x10, 0x00});  // owner, half a TYPE/CLASS
  return out;
}

class DnsTestServer {
 public:
  // Returns the reply to send, or nullopt to stay silent.
  using Handler = std::function<std::optional<Bytes>(const Bytes& query, bool tcp)>;

  DnsTestServer() : udp_(io_), acceptor_(io_) {
    namespace ip = boost::asio::ip;
    const auto loopback = ip::make_address_v4("127.0.0.1");
    // UDP and TCP must share the port: c-ares uses one port for both.
    for (int attempt = 0;; ++attempt) {
      boost::system::error_code ec;
      udp_.open(ip::udp::v4());
      udp_.bind({loopback, 0});
      port_ = udp_.local_endpoint().port();
      acceptor_.open(ip::tcp::v4());
      acceptor_.bind({loopback, port_}, ec);
      if (!ec) break;
      acceptor_.close();
      udp_.close();
      if (attempt == 50) throw std::runtime_error("no port free for UDP and TCP");
    }
    acceptor_.listen();
    receive();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~DnsTestServer() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void set_handler(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }

  std::atomic<int> udp_queries{0};
  std::atomic<int> tcp_queries{0};

 private:
  std::optional<Bytes> answer(const Bytes& query, bool tcp) {
    (tcp ? tcp_queries : udp_queries)++;
    std::lock_guard lock(mutex_);
    if (!handler_) return std::nullopt;
    return handler_(query, tcp);
  }

  void receive() {
    udp_.async_receive_from(boost::asio::buffer(buffer_), sender_,
                            [this](boost::system::error_code ec, std::size_t n) {
                              if (ec) return;
                              Bytes query(buffer_.begin(), buffer_.begin() + static_cast<long>(n));
                              if (auto reply = answer(query, false)) {
                                udp_.send_to(boost::asio::buffer(*reply), sender_, 0, ec);
                              }
                              receive();
                            });
  }

  struct Session : std::enable_shared_from_this<Session> {
    Session(DnsTestServer& s, boost::asio::ip::tcp::socket sock)
        : server(s), socket(std::move(sock)) {}
    DnsTestServer& server;
    boost::asio::ip::tcp::socket socket;
    unsigned char length[2] = {};
    Bytes message;
    Bytes out;

    void read() {
      boost::asio::async_read(
          socket, boost::asio::buffer(length),
          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
            if (ec) return;
            self->message.resize(std::size_t{self->length[0]} << 8 | self->length[1]);
            boost::asio::async_read(
                self->socket, boost::asio::buffer(self->message),
                [self](boost::system::error_code ec2, std::size_t) {
                  if (ec2) return;
                  auto reply = self->server.answer(self->message, true);
                  if (!reply) return self->read();
                  self->out = {static_cast<unsigned char>(reply->size() >> 8),
                               static_cast<unsigned char>(reply->size() & 0xff)};
                  self->out.insert(self->out.end(), reply->begin(), reply->end());
                  boost::asio::async_write(self->socket, boost::asio::buffer(self->out),
                                           [self](boost::system::error_code ec3, std::size_t) {
                                             if (!ec3) self->read();
                                           });
                });
          });
    }
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      std::make_shared<Session>(*this, std::move(s))->read();
      accept();
    });
  }

  boost::asio::io_context io_;
  boost::asio::ip::udp::socket udp_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::udp::endpoint sender_;
  std::array<unsigned char, 65536> buffer_{};
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  Handler handler_;
  std::thread thread_;
};

}  // namespace mtasts::dns::testing
