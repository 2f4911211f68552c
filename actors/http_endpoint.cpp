#include "actors/http_endpoint.hpp"

#include <caf/behavior.hpp>
#include <caf/io/system_messages.hpp>
#include <spdlog/spdlog.h>

#include "core/json.hpp"
#include "core/prometheus.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

using self_ptr = http_self*;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_request_bytes = 16 * 1024;
constexpr std::size_t max_clients = 64;
// A client that has not sent its request by then is closed.
constexpr auto request_time = std::chrono::seconds(10);

const char* reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
  }
  return "Error";
}

void answer(self_ptr self, caf::io::connection_handle hdl, const http_response& r) {
  auto it = self->state.clients.find(hdl);
  if (it == self->state.clients.end() || it->second.answered)
    return;  // gone meanwhile
  it->second.answered = true;
  auto msg = http_message(r);
  self->write(hdl, msg.size(), msg.data());
  self->flush(hdl);
  // Graceful: CAF sends what is buffered first.
  self->close(hdl);
  self->state.clients.erase(it);
}

std::string json_string(const std::string& s) {
  std::string out;
  json_quote(out, s);
  return out;
}

// The probes of one /readyz, answered once both are in.
struct readiness {
  caf::io::connection_handle hdl;
  int left = 2;
  bool redis_ok = false, postgres_ok = false;
  std::string redis_error, postgres_error;
};

void ready_answer(self_ptr self, const std::shared_ptr<readiness>& r) {
  if (--r->left > 0)
    return;
  auto& m = *self->state.cfg.metrics;
  auto now = clock_type::now();
  auto pg_breaker = m.postgres_breaker.current(now);
  auto redis_breaker = m.redis_breaker.current(now);
  std::vector<std::string> reasons;
  if (!r->redis_ok)
    reasons.push_back("redis: " + r->redis_error);
  if (!r->postgres_ok)
    reasons.push_back("postgres: " + r->postgres_error);
  if (redis_breaker == circuit_breaker::state::open)
    reasons.push_back("redis: circuit breaker open");
  if (pg_breaker == circuit_breaker::state::open)
    reasons.push_back("postgres: circuit breaker open");
  auto check = [&](bool ok, const std::string& err, circuit_breaker::state br) {
    std::string out = "{\"reachable\":" + std::string(ok ? "true" : "false");
    if (!ok)
      out += ",\"error\":" + json_string(err);
    out += ",\"breaker\":" + json_string(circuit_breaker::name(br)) + "}";
    return out;
  };
  http_response resp;
  resp.status = reasons.empty() ? 200 : 503;
  resp.content_type = "application/json";
  resp.body = "{\"ready\":" + std::string(reasons.empty() ? "true" : "false") +
              ",\"redis\":" + check(r->redis_ok, r->redis_error, redis_breaker) +
              ",\"postgres\":" + check(r->postgres_ok, r->postgres_error, pg_breaker) +
              ",\"reasons\":[";
  for (std::size_t i = 0; i < reasons.size(); ++i)
    resp.body += (i ? "," : "") + json_string(reasons[i]);
  resp.body += "]}\n";
  answer(self, r->hdl, resp);
}

void store_redis_figures(service_metrics& m, const std::vector<int64_t>& figures) {
  if (figures.size() == 2) {
    m.redis_used_memory.store(figures[0]);
    m.redis_evicted_keys.store(figures[1]);
  }
}

void probe(self_ptr self, caf::io::connection_handle hdl) {
  auto& st = self->state;
  auto r = std::make_shared<readiness>();
  r->hdl = hdl;
  auto turn = st.next_probe++;
  auto deadline = (clock_type::now() + st.cfg.probe_timeout).time_since_epoch().count();
  auto wait = st.cfg.probe_timeout + std::chrono::milliseconds(250);
  if (auto redis = st.cfg.directory->redis(turn)) {
    self->request(redis, wait, atom::probe::value, deadline)
      .then(
        [=](const std::vector<int64_t>& figures) {
          store_redis_figures(*self->state.cfg.metrics, figures);
          r->redis_ok = true;
          ready_answer(self, r);
        },
        [=](caf::error& err) {
          r->redis_error = client_error_text(err);
          ready_answer(self, r);
        });
  } else {
    r->redis_error = "no connection";
    ready_answer(self, r);
  }
  if (auto pg = st.cfg.directory->postgres(turn)) {
    self->request(pg, wait, atom::probe::value, deadline)
      .then(
        [=](bool) {
          r->postgres_ok = true;
          ready_answer(self, r);
        },
        [=](caf::error& err) {
          r->postgres_error = client_error_text(err);
          ready_answer(self, r);
        });
  } else {
    r->postgres_error = "no connection";
    ready_answer(self, r);
  }
}

void read_redis_info(self_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.cfg.redis_info_every, atom::tick::value);
  auto redis = st.cfg.directory->redis(st.next_probe++);
  if (!redis)
    return;
  auto deadline = (clock_type::now() + st.cfg.probe_timeout).time_since_epoch().count();
  self->request(redis, st.cfg.probe_timeout + std::chrono::milliseconds(250), atom::probe::value,
                deadline)
    .then([=](const std::vector<int64_t>& figures) {
      store_redis_figures(*self->state.cfg.metrics, figures);
    },
    [](caf::error&) {});  // the next look tries again; /readyz says why
}

void on_request(self_ptr self, caf::io::connection_handle hdl, const std::string& head) {
  // The request line: METHOD SP target SP version.
  auto eol = head.find("\r\n");
  auto line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    answer(self, hdl, {400, "text/plain; charset=utf-8", "malformed request line\n"});
    return;
  }
  auto method = line.substr(0, sp1);
  auto path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = path.find('?'); q != std::string::npos)
    path.resize(q);
  if (method == "GET" && path == "/readyz") {
    probe(self, hdl);
    return;
  }
  answer(self, hdl, route(method, path, *self->state.cfg.metrics));
}

void on_data(self_ptr self, const caf::io::new_data_msg& msg) {
  auto it = self->state.clients.find(msg.handle);
  if (it == self->state.clients.end() || it->second.answered)
    return;
  auto& c = it->second;
  c.request.append(msg.buf.begin(), msg.buf.end());
  auto end = c.request.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c.request.size() > max_request_bytes)
      answer(self, msg.handle, {431, "text/plain; charset=utf-8", "request too large\n"});
    return;
  }
  auto head = c.request.substr(0, end + 2);
  on_request(self, msg.handle, head);
}

void sweep(self_ptr self) {
  auto now = clock_type::now();
  for (auto it = self->state.clients.begin(); it != self->state.clients.end();) {
    if (!it->second.answered && now - it->second.opened > request_time) {
      self->close(it->first);
      it = self->state.clients.erase(it);
    } else {
      ++it;
    }
  }
  if (!self->state.clients.empty())
    self->delayed_send(self, request_time, atom::deadline::value);
}

}  // namespace

http_response route(const std::string& method, const std::string& path,
                    const service_metrics& m) {
  if (path != "/metrics" && path != "/healthz" && path != "/readyz")
    return {404, "text/plain; charset=utf-8",
            "not found; try /metrics, /healthz or /readyz\n"};
  if (method != "GET" && method != "HEAD")
    return {405, "text/plain; charset=utf-8", "only GET\n"};
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            prometheus_text(m, clock_type::now())};
  if (path == "/healthz")
    return {200, "application/json", "{\"alive\":true}\n"};
  return {0, {}, {}};  // /readyz: the caller probes
}

std::string http_message(const http_response& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_of(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (r.status == 405)
    out += "Allow: GET\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += r.body;
  return out;
}

caf::behavior http_endpoint(self_ptr self, http_settings cfg) {
  self->state.cfg = std::move(cfg);
  auto& st = self->state;
  auto bound = self->add_tcp_doorman(st.cfg.port, st.cfg.host.c_str(), true);
  if (!bound) {
    auto where = st.cfg.host + ":" + std::to_string(st.cfg.port);
    return {
      [=](atom::get) -> caf::result<uint16_t> {
        self->quit();
        return make_error(ec::client_error,
                          "cannot listen on " + where +
                            " (the port is in use, or the address is not one of this machine's)");
      },
    };
  }
  st.port = bound->second;
  read_redis_info(self);
  return {
    [=](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      if (st.clients.size() >= max_clients) {
        self->close(msg.handle);
        return;
      }
      if (st.clients.empty())
        self->delayed_send(self, request_time, atom::deadline::value);
      st.clients[msg.handle] = {{}, clock_type::now(), false};
      self->configure_read(msg.handle, caf::io::receive_policy::at_most(4096));
    },
    [=](const caf::io::new_data_msg& msg) { on_data(self, msg); },
    [=](const caf::io::connection_closed_msg& msg) { self->state.clients.erase(msg.handle); },
    [=](atom::deadline) { sweep(self); },
    [=](atom::tick) { read_redis_info(self); },
    [=](atom::get) -> uint16_t { return self->state.port; },
  };
}

}  // namespace wtcache
