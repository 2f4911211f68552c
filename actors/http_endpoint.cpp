// The HTTP endpoint: /metrics, /healthz and /readyz on a broker.
#include "actors/http_endpoint.hpp"

#include <algorithm>

#include <tuple>

#include <caf/behavior.hpp>
#include <caf/io/system_messages.hpp>
#include <spdlog/spdlog.h>

#include "actors/broker_mailbox.hpp"
#include "core/json.hpp"
#include "core/prometheus.hpp"
#include "messages/atoms.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/errors.hpp"

namespace wtcache {

using self_ptr = http_self*;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_request_bytes = 16 * 1024;
constexpr std::size_t max_clients = 64;
// A client that has not sent its request by then is closed.
constexpr auto request_time = std::chrono::seconds(5);

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

// Answers the client that `serial` names, if it is still there.
void answer(self_ptr self, caf::io::connection_handle hdl, uint64_t serial,
            const http_response& r, bool head) {
  auto it = self->state.clients.find(hdl);
  if (it == self->state.clients.end() || it->second.serial != serial)
    return;  // gone meanwhile (its handle may be another client's now)
  auto msg = http_message(r, head);
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

// The probes of one /readyz: every worker of each backend is asked, the
// first answer counts; answered once each backend has answered or all its
// probes failed.
struct readiness {
  caf::io::connection_handle hdl;
  uint64_t serial = 0;
  bool head = false;
  bool done = false;
  struct backend {
    int left = 0;
    bool ok = false;
    std::string error;
  } redis, postgres;
};

void ready_answer(self_ptr self, const std::shared_ptr<readiness>& r) {
  if (r->done || (!r->redis.ok && r->redis.left > 0) || (!r->postgres.ok && r->postgres.left > 0))
    return;
  r->done = true;
  auto& h = *self->state.cfg.health;
  auto now = clock_type::now();
  // A backend that answered is the probe a half-open breaker waits for.
  for (auto [ok, br, name] : {std::tuple{r->postgres.ok, &h.postgres, "postgres"},
                              std::tuple{r->redis.ok, &h.redis, "redis"}})
    if (ok && br->current(now) == circuit_breaker::state::half_open && br->success(now).closed)
      self->state.cfg.log->info("{} circuit closed: it answered a readiness probe", name);
  auto pg_breaker = h.postgres.current(now);
  auto redis_breaker = h.redis.current(now);
  std::vector<std::string> reasons;
  if (!r->redis.ok)
    reasons.push_back("redis: " + r->redis.error);
  if (!r->postgres.ok)
    reasons.push_back("postgres: " + r->postgres.error);
  if (redis_breaker != circuit_breaker::state::closed)
    reasons.push_back(std::string("redis: circuit breaker ") + circuit_breaker::name(redis_breaker));
  if (pg_breaker != circuit_breaker::state::closed)
    reasons.push_back(std::string("postgres: circuit breaker ") + circuit_breaker::name(pg_breaker));
  auto check = [&](const readiness::backend& b, circuit_breaker::state br) {
    std::string out = "{\"reachable\":" + std::string(b.ok ? "true" : "false");
    if (!b.ok)
      out += ",\"error\":" + json_string(b.error);
    out += ",\"breaker\":" + json_string(circuit_breaker::name(br)) + "}";
    return out;
  };
  http_response resp;
  resp.status = reasons.empty() ? 200 : 503;
  resp.content_type = "application/json";
  resp.body = "{\"ready\":" + std::string(reasons.empty() ? "true" : "false") +
              ",\"redis\":" + check(r->redis, redis_breaker) +
              ",\"postgres\":" + check(r->postgres, pg_breaker) + ",\"reasons\":[";
  for (std::size_t i = 0; i < reasons.size(); ++i)
    resp.body += (i ? "," : "") + json_string(reasons[i]);
  resp.body += "]}\n";
  answer(self, r->hdl, r->serial, resp, r->head);
}

void store_redis_figures(service_metrics& m, const std::vector<int64_t>& figures) {
  if (figures.size() != redis_figure::count)
    return;
  // Memory and evictions only when every master answered: a counter must
  // not go down because one did not this time.
  if (auto v = figures[redis_figure::used_memory]; v >= 0)
    m.redis_used_memory.store(v);
  if (auto v = figures[redis_figure::evicted_keys]; v >= 0)
    m.redis_evicted_keys.store(v);
  m.redis_cluster_ok.store(figures[redis_figure::cluster_ok]);
  m.redis_cluster_slots_ok.store(figures[redis_figure::cluster_slots_ok]);
  m.redis_cluster_known_nodes.store(figures[redis_figure::cluster_known_nodes]);
  m.redis_cluster_masters.store(figures[redis_figure::cluster_masters]);
  m.redis_cluster_masters_up.store(figures[redis_figure::cluster_masters_up]);
}

// No master answered the look: the cluster's figures say so rather than
// keep the last look's.
void redis_figures_failed(service_metrics& m) {
  if (!m.redis_cluster.load())
    return;
  m.redis_cluster_ok.store(-1);
  m.redis_cluster_masters_up.store(0);
}

void probe(self_ptr self, caf::io::connection_handle hdl, uint64_t serial, bool head) {
  auto& st = self->state;
  auto r = std::make_shared<readiness>();
  r->hdl = hdl;
  r->serial = serial;
  r->head = head;
  auto deadline = (clock_type::now() + st.cfg.probe_timeout).time_since_epoch().count();
  auto wait = st.cfg.probe_timeout + std::chrono::milliseconds(100);
  auto redis = st.cfg.directory->all_redis();
  auto pg = st.cfg.directory->all_postgres();
  r->redis.left = static_cast<int>(redis.size());
  r->postgres.left = static_cast<int>(pg.size());
  if (redis.empty())
    r->redis.error = "no connection";
  if (pg.empty())
    r->postgres.error = "no connection";
  auto answered = [=](readiness::backend readiness::*b, const caf::error* err) {
    auto& x = (*r).*b;
    --x.left;
    if (!err)
      x.ok = true;
    else if (x.error.empty())
      x.error = client_error_text(*err);
    ready_answer(self, r);
  };
  for (auto& w : redis)
    self->request(w, wait, atom::probe::value, deadline)
      .then(
        [=](const std::vector<int64_t>& figures) {
          store_redis_figures(*self->state.cfg.metrics, figures);
          answered(&readiness::redis, nullptr);
        },
        [=](caf::error& err) { answered(&readiness::redis, &err); });
  for (auto& w : pg)
    self->request(w, wait, atom::probe::value, deadline)
      .then([=](bool) { answered(&readiness::postgres, nullptr); },
            [=](caf::error& err) { answered(&readiness::postgres, &err); });
  ready_answer(self, r);  // both pools empty: at once
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
    [=](caf::error&) {  // the next look tries again; /readyz says why
      redis_figures_failed(*self->state.cfg.metrics);
    });
}

void on_request(self_ptr self, caf::io::connection_handle hdl, uint64_t serial,
                const std::string& request) {
  auto line = parse_request_line(request);
  if (!line) {
    answer(self, hdl, serial, {400, "text/plain; charset=utf-8", "malformed request line\n"}, false);
    return;
  }
  bool head = line->method == "HEAD";
  auto r = route(line->method, line->path, *self->state.cfg.metrics, *self->state.cfg.health);
  if (r.status == 0) {  // /readyz
    probe(self, hdl, serial, head);
    return;
  }
  answer(self, hdl, serial, r, head);
}

void on_data(self_ptr self, const caf::io::new_data_msg& msg) {
  auto it = self->state.clients.find(msg.handle);
  if (it == self->state.clients.end() || it->second.dispatched)
    return;  // one request per connection: what follows it is ignored
  auto& c = it->second;
  auto searched = c.request.size();
  c.request.append(msg.buf.begin(), msg.buf.end());
  auto end = http_head_end(c.request, searched);
  if (end == std::string::npos) {
    if (c.request.size() > max_request_bytes) {
      c.dispatched = true;
      answer(self, msg.handle, c.serial,
             {431, "text/plain; charset=utf-8", "request too large\n"}, false);
    }
    return;
  }
  c.dispatched = true;
  auto request = c.request.substr(0, end);
  c.request.clear();
  c.request.shrink_to_fit();
  on_request(self, msg.handle, c.serial, request);
}

void arm_sweep(self_ptr self) {
  if (self->state.sweep_armed || self->state.clients.empty())
    return;
  self->state.sweep_armed = true;
  self->delayed_send(self, request_time, atom::deadline::value);
}

// Closes the clients that have not sent their request in time.
void sweep(self_ptr self) {
  self->state.sweep_armed = false;
  auto now = clock_type::now();
  for (auto it = self->state.clients.begin(); it != self->state.clients.end();) {
    if (!it->second.dispatched && now - it->second.opened > request_time) {
      self->close(it->first);
      it = self->state.clients.erase(it);
    } else {
      ++it;
    }
  }
  arm_sweep(self);
}

}  // namespace

std::size_t http_head_end(const std::string& received, std::size_t searched) {
  // The empty line may have begun in the bytes looked at before.
  auto from = searched < 3 ? 0 : searched - 3;
  auto end = received.find("\r\n\r\n", from);
  auto bare = received.find("\n\n", from);
  return std::min(end, bare);
}

std::optional<http_request_line> parse_request_line(const std::string& head) {
  auto line = head.substr(0, head.find_first_of("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0)
    return std::nullopt;
  http_request_line r{line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1)};
  if (auto q = r.path.find('?'); q != std::string::npos)
    r.path.resize(q);
  return r;
}

http_response route(const std::string& method, const std::string& path,
                    const service_metrics& m, const node_health& h) {
  if (path != "/metrics" && path != "/healthz" && path != "/readyz")
    return {404, "text/plain; charset=utf-8",
            "not found; try /metrics, /healthz or /readyz\n"};
  if (method != "GET" && method != "HEAD")
    return {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            prometheus_text(m, h, clock_type::now())};
  if (path == "/healthz")
    return {200, "application/json", "{\"alive\":true}\n"};
  return {0, {}, {}};  // /readyz: the caller probes
}

std::string http_message(const http_response& r, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_of(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (r.status == 405)
    out += "Allow: GET, HEAD\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head)
    out += r.body;
  return out;
}

http_settings http_settings_from(const config& cfg) {
  http_settings s;
  s.log = logger_of(cfg);
  s.host = cfg.http_host;
  s.port = cfg.http_port;
  // Readiness probes have timeouts of a second or so.
  s.probe_timeout =
    std::min<std::chrono::milliseconds>(s.probe_timeout, std::max(cfg.redis_timeout, cfg.postgres_timeout));
  return s;
}

caf::behavior http_endpoint(self_ptr self, http_settings cfg) {
  close_mailbox_at_exit(self);
  self->state.cfg = std::move(cfg);
  auto& st = self->state;
  auto bound = self->add_tcp_doorman(st.cfg.port, st.cfg.host.c_str(), true);
  if (!bound) {
    return {
      [=](atom::get) -> caf::result<uint16_t> {
        self->quit();
        return cannot_listen(self->state.cfg.host, self->state.cfg.port);
      },
    };
  }
  st.port = bound->second;
  read_redis_info(self);
  return {
    [=](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      if (st.clients.size() >= max_clients) {
        // Full: the oldest client still silent makes room, so that idle
        // sockets cannot lock the monitoring out.
        auto oldest = st.clients.end();
        for (auto it = st.clients.begin(); it != st.clients.end(); ++it)
          if (!it->second.dispatched &&
              (oldest == st.clients.end() || it->second.opened < oldest->second.opened))
            oldest = it;
        if (oldest == st.clients.end()) {
          self->close(msg.handle);
          return;
        }
        self->close(oldest->first);
        st.clients.erase(oldest);
      }
      st.clients[msg.handle] = {{}, clock_type::now(), st.next_serial++, false};
      self->configure_read(msg.handle, caf::io::receive_policy::at_most(4096));
      arm_sweep(self);
    },
    [=](const caf::io::new_data_msg& msg) { on_data(self, msg); },
    [=](const caf::io::connection_closed_msg& msg) { self->state.clients.erase(msg.handle); },
    [=](atom::deadline) { sweep(self); },
    [=](atom::tick) { read_redis_info(self); },
    [=](atom::get) -> uint16_t { return self->state.port; },
  };
}

}  // namespace wtcache
