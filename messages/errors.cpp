// The project's error enum: its CAF category, texts, and client error lines.
#include "messages/errors.hpp"

#include <array>

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace wtcache {

namespace {

constexpr std::array<const char*, 10> descriptions = {
  "none",           "client_error", "timeout",         "postgres_unavailable", "redis_unavailable",
  "postgres_error", "redis_error",  "outcome_unknown", "busy",                 "stopped",
};
static_assert(descriptions.size() == static_cast<std::size_t>(ec::stopped) + 1,
              "every ec value needs a description");

}  // namespace

std::string error_detail(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

std::string one_line(std::string s) {
  std::string out;
  for (char c : s) {
    bool blank = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (!blank)
      out += c;
    else if (!out.empty() && out.back() != ' ')
      out += ' ';
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

std::string to_string(ec x) {
  auto i = static_cast<std::size_t>(x);
  return i < descriptions.size() ? descriptions[i] : "unknown";
}

std::string client_error_text(const caf::error& err) {
  if (err.category() == caf::atom("wtcache")) {
    auto code = static_cast<ec>(err.code());
    auto ctx = error_detail(err);
    switch (code) {
      case ec::client_error:
        return ctx;
      case ec::timeout:
        return "ERR timeout" + (ctx.empty() ? std::string() : ": " + ctx);
      case ec::postgres_unavailable:
        return "TRYAGAIN postgres unavailable" + (ctx.empty() ? std::string() : ": " + ctx);
      case ec::redis_unavailable:
        return "TRYAGAIN redis unavailable" + (ctx.empty() ? std::string() : ": " + ctx);
      case ec::postgres_error:
        return "ERR postgres: " + ctx;
      case ec::redis_error:
        return "ERR redis: " + ctx;
      case ec::outcome_unknown:
        return "ERR outcome unknown" + (ctx.empty() ? std::string() : ": " + ctx);
      case ec::busy:
        return "BUSY " + ctx;
      default:
        return "ERR " + to_string(code) + (ctx.empty() ? std::string() : ": " + ctx);
    }
  }
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return "ERR timeout: no answer within the request deadline";
    if (code == caf::sec::request_receiver_down)
      return "TRYAGAIN worker restarting";
  }
  return "ERR internal error";
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(caf::atom("wtcache"), [](uint8_t code, caf::atom_value,
                                                  const caf::message& ctx) {
    std::string out = "wtcache::" + to_string(static_cast<ec>(code));
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      out += "(" + ctx.get_as<std::string>(0) + ")";
    return out;
  });
}

caf::error cannot_listen(const std::string& host, uint16_t port) {
  return make_error(ec::client_error,
                    "cannot listen on " + host + ":" + std::to_string(port) +
                      " (the port is in use, or the address is not one of this machine's)");
}

}  // namespace wtcache
