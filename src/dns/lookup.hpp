#pragma once
// One typed lookup (TXT, A, AAAA, MX) that follows CNAMEs across queries when
// the server stops at a CNAME target without giving its records.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dns/message.hpp"
#include "dns/server_set.hpp"

namespace mtasts::dns {

// done runs exactly once, from a handler posted to the io_context. A server set
// destroyed mid-chase ends it with temp_fail "shutdown".
// With dnssec, queries carry AD and DO, and the answer is authenticated only
// when every response along the CNAME chase had the AD bit.
void lookup(const std::shared_ptr<ServerSet>& servers, const std::string& name, std::uint16_t type,
            std::function<void(Answer)> done, bool dnssec = false);

}  // namespace mtasts::dns
