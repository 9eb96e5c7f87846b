#pragma once
// A real PostgreSQL server for the store tests: initdb once per test process
// into a template, then each PostgresServer copies it and runs its own
// `postgres` on a free loopback port (socket in the same private directory),
// stopped by PID, also on failure. The tests run as root and postgres refuses
// root: the children drop to the `postgres` system user (or `nobody`), which
// owns the directories. Debian installs the server under
// /usr/lib/postgresql/<major>/bin (15 on Debian 12, 17 on Debian 13): the
// highest one present is used.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cache/postgres_store.hpp"
#include "redis_test_support.hpp"  // free_port, run_until

namespace mtasts_test {

// The server binaries' directory, or empty when PostgreSQL is not installed.
inline fs::path postgres_bin_dir() {
  fs::path best;
  int best_major = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto bin = entry.path() / "bin";
    if (!fs::exists(bin / "postgres") || !fs::exists(bin / "initdb")) continue;
    const int major = std::atoi(entry.path().filename().c_str());
    if (major > best_major) {
      best_major = major;
      best = bin;
    }
  }
  return best;
}

inline bool postgres_available() { return !postgres_bin_dir().empty(); }

// Who the server runs as: postgres refuses to run as root.
struct ServerAccount {
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  bool change = false;
};

inline ServerAccount server_account() {
  ServerAccount account;
  if (::geteuid() != 0) return account;
  for (const char* name : {"postgres", "nobody"}) {
    if (const passwd* pw = ::getpwnam(name)) {
      account.uid = pw->pw_uid;
      account.gid = pw->pw_gid;
      account.change = true;
      return account;
    }
  }
  FAIL("no unprivileged account (postgres, nobody) to run the PostgreSQL server as");
  return account;
}

// Forks and execs argv as the server account, output to `log`; dies with the
// test process (PR_SET_PDEATHSIG is set after setuid, which clears it).
inline pid_t spawn_as_server(const std::vector<std::string>& args, const fs::path& log) {
  const auto account = server_account();
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& arg : copy) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (account.change) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(account.gid) != 0 ||
          ::setuid(account.uid) != 0) {
        ::_exit(126);
      }
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

inline std::string read_text_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A directory the server account owns, removed at the end.
struct ServerDir {
  fs::path path;
  ServerDir() {
    char pattern[] = "/tmp/mtasts-pg-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
    const auto account = server_account();
    REQUIRE(::chown(path.c_str(), account.uid, account.gid) == 0);
  }
  ~ServerDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  ServerDir(const ServerDir&) = delete;
  ServerDir& operator=(const ServerDir&) = delete;
};

inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// initdb once per process (a second or two); each server copies the result.
inline const fs::path& template_cluster() {
  static ServerDir dir;
  static const fs::path data = [] {
    const fs::path out = dir.path / "data";
    const pid_t pid =
        spawn_as_server({(postgres_bin_dir() / "initdb").string(), "-D", out.string(), "-U",
                         "mtasts", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
                        dir.path / "initdb.log");
    const int status = wait_exit(pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      FAIL("initdb failed: " << read_text_file(dir.path / "initdb.log"));
    }
    return out;
  }();
  return data;
}

using PgResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// One postgres server of its own. Stopped by PID: SIGQUIT (immediate
// shutdown: the postmaster takes its backends with it, so the same directory
// can start again), SIGKILL if it lingers.
class PostgresServer {
 public:
  PostgresServer() : port_(free_port()) {
    const fs::path data = dir_.path / "data";
    const pid_t pid = spawn_as_server({"/bin/cp", "-a", template_cluster().string(), data.string()},
                                      dir_.path / "cp.log");
    REQUIRE(WIFEXITED(wait_exit(pid)));
    REQUIRE(fs::exists(data / "PG_VERSION"));
    start();
  }
  ~PostgresServer() { stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  std::string socket_dir() const { return dir_.path.string(); }
  // libpq's keyword/value form over TCP.
  std::string dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=mtasts dbname=postgres";
  }
  // postfix-mta-sts-resolver's documented form: a URL, the socket directory
  // percent-encoded as the host.
  std::string socket_url() const {
    std::string host;
    for (char c : socket_dir()) host += c == '/' ? std::string("%2F") : std::string(1, c);
    return "postgres://mtasts@" + host + ":" + std::to_string(port_) + "/postgres";
  }

  void start() {
    REQUIRE(pid_ <= 0);
    pid_ = spawn_as_server(
        {(postgres_bin_dir() / "postgres").string(), "-D", (dir_.path / "data").string(), "-k",
         socket_dir(), "-p", std::to_string(port_), "-c", "listen_addresses=127.0.0.1", "-c",
         "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off", "-c",
         "max_connections=40"},
        dir_.path / "server.log");
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("postgres exited at start: " << read_text_file(dir_.path / "server.log"));
      }
      PGconn* conn = PQconnectdb((dsn() + " connect_timeout=2").c_str());
      const bool up = PQstatus(conn) == CONNECTION_OK;
      PQfinish(conn);
      if (up) return;
      std::this_thread::sleep_for(50ms);
    }
    stop();
    FAIL("postgres did not accept connections within 30 s: "
         << read_text_file(dir_.path / "server.log"));
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGQUIT);
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // A statement on a connection of its own (independent of the code under
  // test); the test fails when it does.
  PgResultPtr exec(const std::string& sql) const {
    PGconn* conn = PQconnectdb((dsn() + " connect_timeout=5").c_str());
    REQUIRE(PQstatus(conn) == CONNECTION_OK);
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    PgResultPtr result(PQexec(conn, sql.c_str()), &PQclear);
    const auto status = PQresultStatus(result.get());
    const std::string error = PQresultErrorMessage(result.get());
    PQfinish(conn);
    INFO(sql << ": " << error);
    REQUIRE((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK));
    return result;
  }
  // The single value of a one-row, one-column query.
  std::string value(const std::string& sql) const {
    auto result = exec(sql);
    REQUIRE(PQntuples(result.get()) == 1);
    return PQgetvalue(result.get(), 0, 0);
  }

 private:
  ServerDir dir_;
  int port_;
  pid_t pid_ = -1;
};

inline mtasts::cache::PostgresOptions postgres_options(const std::string& dsn) {
  mtasts::cache::PostgresOptions o;
  o.dsn = dsn;
  o.connect_timeout = 2000ms;
  o.command_timeout = 2000ms;
  o.reconnect_min = 50ms;
  o.reconnect_max = 200ms;
  return o;
}

}  // namespace mtasts_test
