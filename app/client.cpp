// The blocking and future clients of the typed cache.
#include "app/client.hpp"

#include <tuple>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

namespace {

std::optional<std::string> optional_of(cache_value& v) {
  if (!v.found)
    return std::nullopt;
  return std::move(v.bytes);
}

std::vector<std::optional<std::string>> optionals_of(std::vector<cache_value>& vs) {
  std::vector<std::optional<std::string>> out;
  out.reserve(vs.size());
  for (auto& v : vs)
    out.push_back(optional_of(v));
  return out;
}

template <class T>
T same(T& x) {
  return std::move(x);
}

// No answer at all (the client's own timeout, or a service that is gone):
// a read changed nothing, a write may have applied.
enum class call { read, write };

caf::error no_answer(caf::error err, call c) {
  if (err == caf::sec::request_timeout)
    return make_error(c == call::read ? ec::timeout : ec::outcome_unknown,
                      "no answer within the client's timeout");
  return err;
}

}  // namespace

struct blocking_client::impl {
  impl(caf::actor_system& sys, cache_actor c, std::chrono::milliseconds t)
    : self(sys), cache(std::move(c)), timeout(t) {}

  // Sends the request and waits for its answer, of type R, made into
  // what `convert` returns.
  template <class R, class Convert, class... Ts>
  auto ask(call c, Convert convert, Ts&&... xs) -> caf::expected<std::decay_t<decltype(convert(std::declval<R&>()))>> {
    using out_type = std::decay_t<decltype(convert(std::declval<R&>()))>;
    caf::expected<out_type> out{make_error(ec::timeout)};
    self->request(cache, timeout, std::forward<Ts>(xs)...)
      .receive([&](R& r) { out = convert(r); }, [&](caf::error& err) { out = no_answer(err, c); });
    return out;
  }

  caf::scoped_actor self;
  cache_actor cache;
  std::chrono::milliseconds timeout;
};

blocking_client::blocking_client(caf::actor_system& sys, cache_actor cache,
                                 std::chrono::milliseconds timeout)
  : impl_(std::make_unique<impl>(sys, std::move(cache), timeout)) {}

blocking_client::~blocking_client() = default;

caf::expected<std::optional<std::string>> blocking_client::get(std::string key) {
  return impl_->ask<cache_value>(call::read, optional_of, atom::get::value, std::move(key));
}

caf::expected<std::vector<std::optional<std::string>>>
blocking_client::mget(std::vector<std::string> keys) {
  return impl_->ask<std::vector<cache_value>>(call::read, optionals_of, atom::get::value, std::move(keys));
}

caf::expected<set_result> blocking_client::set(std::string key, std::string value,
                                               set_options options) {
  return impl_->ask<set_result>(call::write, same<set_result>, atom::put::value, std::move(key),
                                std::move(value), options);
}

caf::expected<int64_t> blocking_client::del(std::vector<std::string> keys) {
  return impl_->ask<int64_t>(call::write, same<int64_t>, atom::del::value, std::move(keys));
}

caf::expected<int64_t> blocking_client::incrby(std::string key, int64_t delta) {
  return impl_->ask<int64_t>(call::write, same<int64_t>, atom::incr::value, std::move(key), delta);
}

caf::expected<bool> blocking_client::expire(std::string key, std::chrono::milliseconds ttl) {
  return impl_->ask<bool>(call::write, same<bool>, atom::expire::value, std::move(key),
                          static_cast<int64_t>(ttl.count()));
}

caf::expected<int64_t> blocking_client::ttl(std::string key) {
  return impl_->ask<int64_t>(call::read, same<int64_t>, atom::ttl::value, std::move(key));
}

caf::expected<std::vector<txn_result>> blocking_client::transaction(std::vector<txn_op> ops) {
  return impl_->ask<std::vector<txn_result>>(call::write, same<std::vector<txn_result>>, atom::exec::value,
                                             std::move(ops));
}

namespace {

// Spawns an actor that sends the request, waits for its answer (of type
// R) and fulfils the future with `convert(answer)` or the error.
template <class R, class Convert, class... Ts>
auto ask_async(caf::actor_system& sys, const cache_actor& cache, std::chrono::milliseconds timeout,
               call c, Convert convert, Ts... xs) {
  using out_type = std::decay_t<decltype(convert(std::declval<R&>()))>;
  auto promise = std::make_shared<std::promise<caf::expected<out_type>>>();
  auto future = promise->get_future();
  sys.spawn([=, args = std::make_tuple(std::move(xs)...)](caf::event_based_actor* self) mutable {
    std::apply(
      [&](auto&... a) {
        self->request(cache, timeout, std::move(a)...)
          .then([=](R& r) { promise->set_value(convert(r)); },
                [=](caf::error& err) { promise->set_value(no_answer(err, c)); });
      },
      args);
  });
  return future;
}

}  // namespace

async_client::async_client(caf::actor_system& sys, cache_actor cache,
                           std::chrono::milliseconds timeout)
  : sys_(&sys), cache_(std::move(cache)), timeout_(timeout) {}

std::future<caf::expected<std::optional<std::string>>> async_client::get(std::string key) {
  return ask_async<cache_value>(*sys_, cache_, timeout_, call::read, optional_of, atom::get::value,
                                std::move(key));
}

std::future<caf::expected<std::vector<std::optional<std::string>>>>
async_client::mget(std::vector<std::string> keys) {
  return ask_async<std::vector<cache_value>>(*sys_, cache_, timeout_, call::read, optionals_of,
                                             atom::get::value, std::move(keys));
}

std::future<caf::expected<set_result>> async_client::set(std::string key, std::string value,
                                                         set_options options) {
  return ask_async<set_result>(*sys_, cache_, timeout_, call::write, same<set_result>, atom::put::value,
                               std::move(key), std::move(value), options);
}

std::future<caf::expected<int64_t>> async_client::del(std::vector<std::string> keys) {
  return ask_async<int64_t>(*sys_, cache_, timeout_, call::write, same<int64_t>, atom::del::value,
                            std::move(keys));
}

std::future<caf::expected<int64_t>> async_client::incrby(std::string key, int64_t delta) {
  return ask_async<int64_t>(*sys_, cache_, timeout_, call::write, same<int64_t>, atom::incr::value,
                            std::move(key), delta);
}

std::future<caf::expected<bool>> async_client::expire(std::string key,
                                                      std::chrono::milliseconds ttl) {
  return ask_async<bool>(*sys_, cache_, timeout_, call::write, same<bool>, atom::expire::value,
                         std::move(key), static_cast<int64_t>(ttl.count()));
}

std::future<caf::expected<int64_t>> async_client::ttl(std::string key) {
  return ask_async<int64_t>(*sys_, cache_, timeout_, call::read, same<int64_t>, atom::ttl::value,
                            std::move(key));
}

std::future<caf::expected<std::vector<txn_result>>>
async_client::transaction(std::vector<txn_op> ops) {
  return ask_async<std::vector<txn_result>>(*sys_, cache_, timeout_, call::write,
                                            same<std::vector<txn_result>>, atom::exec::value,
                                            std::move(ops));
}

}  // namespace wtcache
