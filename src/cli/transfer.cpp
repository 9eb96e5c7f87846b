// mta-stsctl export and import: a daemon's cache to a file of JSON lines and
// back into a daemon (control/transfer.hpp has the format). The tool moves
// lines; the daemon decides what it keeps.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/client.hpp"
#include "cli/commands.hpp"
#include "control/transfer.hpp"

namespace mtasts::cli {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr && f != stdout) std::fclose(f);
  }
};

// Counts what an export carries, line by line, and says when it is not one.
struct ExportCount {
  std::size_t policies = 0, dane = 0;
  std::string error;

  void add(std::string_view line, bool first) {
    const auto decoded = control::decode_transfer_line(line);
    if (const auto* why = decoded.error()) {
      if (error.empty()) error = *why;
      return;
    }
    const bool header = std::holds_alternative<control::ExportHeader>(decoded.value);
    if (first != header && error.empty()) {
      error = first ? "the reply does not start with the export header" : "a second header";
    }
    if (std::holds_alternative<cache::CachedPolicy>(decoded.value)) ++policies;
    if (std::holds_alternative<cache::CachedDane>(decoded.value)) ++dane;
  }
};

}  // namespace

int export_cache(const ControlTarget& target, const std::string& output) {
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s) || !client.send("export")) return kError;
  const bool to_stdout = output.empty() || output == "-";
  // Written beside the target and renamed at the end: a failed export never
  // leaves a truncated file where a good one was.
  const std::string partial = output + ".partial";
  std::unique_ptr<std::FILE, FileCloser> file(to_stdout ? stdout
                                                        : std::fopen(partial.c_str(), "w"));
  if (!file) {
    std::fprintf(stderr, "mta-stsctl: %s: %s\n", partial.c_str(), std::strerror(errno));
    return kError;
  }
  ExportCount count;
  std::size_t lines = 0;
  std::string line;
  bool ended = false;
  while (!ended) {
    line.clear();
    if (!client.read_reply([&](std::string_view piece) { line += piece; })) break;
    if (line == "\n") {
      ended = true;  // the empty line ends the reply
      break;
    }
    const bool first = lines++ == 0;
    if (first && line.rfind("{\"error\"", 0) == 0) {
      // Not an export: the daemon refused (an older one knows no export).
      if (const auto reply = ControlClient::parse(line); reply && reported_error(*reply)) {
        return kError;
      }
    }
    count.add(std::string_view(line).substr(0, line.size() - 1), first);
    if (std::fwrite(line.data(), 1, line.size(), file.get()) != line.size()) {
      std::fprintf(stderr, "mta-stsctl: writing %s: %s\n", to_stdout ? "stdout" : partial.c_str(),
                   std::strerror(errno));
      return kError;
    }
  }
  if (!ended) return kError;  // read_reply said why
  if (!count.error.empty()) {
    std::fprintf(stderr, "mta-stsctl: malformed export from the daemon: %s\n", count.error.c_str());
    return kError;
  }
  if (to_stdout) return std::fflush(stdout) == 0 ? kFound : kError;
  if (std::fflush(file.get()) != 0 || std::fclose(file.release()) != 0 ||
      std::rename(partial.c_str(), output.c_str()) != 0) {
    std::fprintf(stderr, "mta-stsctl: %s: %s\n", output.c_str(), std::strerror(errno));
    return kError;
  }
  std::fprintf(stderr, "mta-stsctl: exported %zu policies and %zu DANE results to %s\n",
               count.policies, count.dane, output.c_str());
  return kFound;
}

namespace {

// Sends the file's lines as the import's payload, a batch at a time. An empty
// line would end the payload early: it is not sent, and its number is kept so
// the daemon's line numbers (of what it received) become the file's again.
bool send_payload(ControlClient& client, std::istream& in, std::vector<std::size_t>& empty_lines) {
  constexpr std::size_t kBatch = 64 * 1024;
  std::string batch, line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line == "\r") {
      empty_lines.push_back(number);
      continue;
    }
    batch += line;
    batch += '\n';
    if (batch.size() >= kBatch) {
      if (!client.send_raw(batch)) return false;
      batch.clear();
    }
  }
  // Empty lines at the end of a file are only its end.
  while (!empty_lines.empty() && empty_lines.back() == number) {
    empty_lines.pop_back();
    --number;
  }
  batch += '\n';  // the empty line: the payload ends
  return client.send_raw(batch);
}

// The daemon's line number (of the lines sent) as the file's.
std::size_t file_line(std::size_t sent, const std::vector<std::size_t>& empty_lines) {
  std::size_t line = sent;
  for (std::size_t empty : empty_lines) {
    if (empty <= line) ++line;
  }
  return line;
}

}  // namespace

int import_file(const ControlTarget& target, const std::string& file) {
  std::ifstream opened;
  const bool from_stdin = file == "-";
  if (!from_stdin) {
    opened.open(file);
    if (!opened) {
      std::fprintf(stderr, "mta-stsctl: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
      return kError;
    }
  }
  std::istream& in = from_stdin ? std::cin : opened;
  const auto path = control_path(target);
  if (!path) return kError;
  ControlClient client;
  if (!client.connect(*path, target.timeout_s) || !client.send("import")) return kError;
  std::vector<std::size_t> empty_lines;
  // On a failed send the daemon may still have said why (an over-long line).
  const bool sent = send_payload(client, in, empty_lines);
  if (in.bad()) {
    std::fprintf(stderr, "mta-stsctl: reading %s failed\n", from_stdin ? "stdin" : file.c_str());
    return kError;
  }
  std::string reply_text;
  if (!client.read_reply([&](std::string_view piece) { reply_text += piece; })) return kError;
  const auto reply = ControlClient::parse(reply_text);
  if (!reply || reported_error(*reply)) return kError;
  const std::string name = from_stdin ? "stdin" : file;
  if (const Tree* errors = child(*reply, "errors")) {
    for (const auto& error : *errors) {
      const auto line = file_line(static_cast<std::size_t>(number(error, "line")), empty_lines);
      std::fprintf(stderr, "%s:%zu: refused: %s\n", name.c_str(), line,
                   text(error, "reason").c_str());
    }
  }
  for (std::size_t empty : empty_lines) {
    std::fprintf(stderr, "%s:%zu: refused: empty line\n", name.c_str(), empty);
  }
  const auto refused = number(*reply, "refused") + static_cast<std::int64_t>(empty_lines.size());
  if (const auto unreported = number(*reply, "unreported"); unreported > 0) {
    std::fprintf(stderr, "%s: %lld more lines refused (not named)\n", name.c_str(),
                 static_cast<long long>(unreported));
  }
  std::printf("imported %lld, refused %lld, older than held %lld\n",
              static_cast<long long>(number(*reply, "imported")), static_cast<long long>(refused),
              static_cast<long long>(number(*reply, "older")));
  if (!sent) return kError;
  return refused > 0 ? kNotFound : kFound;
}

}  // namespace mtasts::cli
