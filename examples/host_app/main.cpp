// host_app: a CAF program with actors of its own that keeps user sessions
// (with a TTL) and counts page views in PostgreSQL, through wtcache's typed
// cache actor: no RESP, no socket of its own.
//
//   host_app [--redis URL --postgres URL] [--data DIR]
//
// Without URLs it starts private servers under DIR (default ./host_app-data).
// With a PostgreSQL of your own, load wtcache's demo schema into it first
// (psql -f <prefix>/share/wtcache/demo.sql): it has the two tables below.
#include <cstdio>
#include <cstring>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <wtcache/wtcache.hpp>

using namespace std::chrono_literals;

// The host's own messages.
using login_atom = caf::atom_constant<caf::atom("login")>;
using view_atom = caf::atom_constant<caf::atom("view")>;

// The session service: a login stores the user's session for 30 minutes;
// each page view counts the page and keeps the session alive.
struct session_state {
  wtcache::cache_actor cache;
};

caf::behavior session_service(caf::stateful_actor<session_state>* self,
                              wtcache::cache_actor cache) {
  self->state.cache = cache;
  return {
    [=](login_atom, int64_t user) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      wtcache::set_options ttl;
      ttl.ttl_ms = 30 * 60 * 1000;
      auto session = "{\"user\": " + std::to_string(user) + ", \"theme\": \"dark\"}";
      self->request(self->state.cache, 6s, wtcache::atom::put::value,
                    "session:" + std::to_string(user), session, ttl)
        .then([=](const wtcache::set_result& r) mutable { rp.deliver(r.applied); },
              [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [=](view_atom, int64_t user, const std::string& page) -> caf::result<int64_t> {
      auto rp = self->make_response_promise<int64_t>();
      auto& cache = self->state.cache;
      self->request(cache, 6s, wtcache::atom::expire::value, "session:" + std::to_string(user),
                    int64_t{30 * 60 * 1000})
        .then([](bool) {}, [](caf::error&) {});
      self->request(cache, 6s, wtcache::atom::incr::value, "views:" + page, int64_t{1})
        .then([=](int64_t views) mutable { rp.deliver(views); },
              [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
  };
}

int main(int argc, char** argv) {
  wtcache::config cfg = wtcache::embedded_defaults();
  cfg.data_dir = "./host_app-data";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--redis"))
      cfg.redis_url = argv[i + 1];
    else if (!std::strcmp(argv[i], "--postgres"))
      cfg.postgres_url = argv[i + 1];
    else if (!std::strcmp(argv[i], "--data"))
      cfg.data_dir = argv[i + 1];
  }
  // Two namespaces over tables of wtcache's demo schema.
  wtcache::namespace_config sessions;
  sessions.prefix = "session:";
  sessions.table = "user_sessions";
  sessions.key_column = "user_id";
  sessions.value_column = "session_data";
  sessions.type = wtcache::value_type::jsonb;
  sessions.expiry = wtcache::expiry_mode::value;  // a session's TTL ends the row too
  sessions.touch_columns = {"last_activity", "updated_at"};
  wtcache::namespace_config views;
  views.prefix = "views:";
  views.table = "page_views";
  views.key_column = "page_url";
  views.value_column = "view_count";
  views.type = wtcache::value_type::text;
  cfg.namespaces.push_back(sessions);
  cfg.namespaces.push_back(views);

  try {
    auto servers = wtcache::private_servers::start(cfg);  // only for URLs left empty
    caf::actor_system_config sys_cfg;
    wtcache::configure_actor_system(sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto svc = wtcache::service::start(sys, cfg);
    std::printf("wtcache %s embedded\n", wtcache::version());

    auto sessions_actor = sys.spawn(session_service, svc->cache());
    caf::scoped_actor self{sys};
    bool ok = true;
    self->request(sessions_actor, 10s, login_atom::value, int64_t{42})
      .receive([](bool applied) { std::printf("login 42: %s\n", applied ? "stored" : "?"); },
               [&](caf::error& e) {
                 std::printf("login failed: %s\n", wtcache::client_error_text(e).c_str());
                 ok = false;
               });
    for (const char* page : {"/home", "/cart", "/home"})
      self->request(sessions_actor, 10s, view_atom::value, int64_t{42}, std::string(page))
        .receive([&](int64_t n) { std::printf("views:%s = %lld\n", page, (long long)n); },
                 [&](caf::error& e) {
                   std::printf("view failed: %s\n", wtcache::client_error_text(e).c_str());
                   ok = false;
                 });

    // Plain blocking code reads the same keys.
    wtcache::blocking_client cache{sys, svc->cache()};
    auto session = cache.get("session:42");
    auto ttl = cache.ttl("session:42");
    if (session && *session && ttl)
      std::printf("session:42 = %s (expires in %lld s)\n", (*session)->c_str(),
                  (long long)(*ttl / 1000));
    else
      ok = false;

    auto figures = svc->snapshot();
    std::printf("commands %llu, writes %llu\n", (unsigned long long)figures.commands,
                (unsigned long long)figures.writes);
    caf::anon_send_exit(sessions_actor, caf::exit_reason::user_shutdown);
    svc->stop();
    return ok ? 0 : 1;
  } catch (const wtcache::config_error& e) {
    std::fprintf(stderr, "host_app: invalid configuration: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "host_app: %s\n", e.what());
    return 1;
  }
}
