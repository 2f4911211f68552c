// The write-behind writer: drains its share of the streams into PostgreSQL in idempotent batches.
#include "actors/write_behind_writer.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include <caf/behavior.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "core/deadline.hpp"
#include "messages/atoms.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/errors.hpp"

namespace wtcache {

using self_ptr = writer_actor::stateful_pointer<writer_state>;
using steady = std::chrono::steady_clock;

namespace {

constexpr const char* consumer = "writer";

int64_t now_ns() { return steady::now().time_since_epoch().count(); }

// PostgreSQL refuses this row for good: no retry can help.
bool permanent(const pqxx::sql_error& e) { return classify(e) == refusal::for_good; }

caf::error redis_refused(const redis_reply& r, const char* what) {
  return make_error(ec::redis_error, std::string(what) + ": " + reply_text(r.get()));
}

// Appends the entries of an XREADGROUP / XAUTOCLAIM entry list.
void parse_entries(const redisReply* list, std::vector<writer_state::entry>& out) {
  if (!list || list->type != REDIS_REPLY_ARRAY)
    return;
  for (std::size_t i = 0; i < list->elements; ++i) {
    auto* item = list->element[i];
    if (item->type != REDIS_REPLY_ARRAY || item->elements != 2)
      continue;
    writer_state::entry e;
    e.id = reply_text(item->element[0]);
    auto* fields = item->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) {
      e.op = 0;  // deleted from the stream while pending: acknowledge it only
      out.push_back(std::move(e));
      continue;
    }
    for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
      auto name = reply_text(fields->element[f]);
      auto value = reply_text(fields->element[f + 1]);
      if (name == "k") e.key = std::move(value);
      else if (name == "v") e.version = std::move(value);
      else if (name == "o") e.op = value.empty() ? 0 : value[0];
      else if (name == "d") e.data = std::move(value);
      else if (name == "t") e.ttl_ms = std::strtoll(value.c_str(), nullptr, 10);
      else if (name == "b") e.bytes = std::strtoll(value.c_str(), nullptr, 10);
      else if (name == "e") e.expires_ms = std::strtoll(value.c_str(), nullptr, 10);
    }
    out.push_back(std::move(e));
  }
}

}  // namespace

writer_settings writer_settings_from(const config& cfg, const namespace_config& ns,
                                     std::size_t writer) {
  writer_settings w;
  w.log = logger_of(cfg);
  w.ns = ns;
  w.writer_index = writer;
  w.layout = cfg.redis_keys();
  w.redis = redis_endpoint_of(cfg);
  w.postgres_url = with_application_name(
    with_connection_timeouts(cfg.postgres_url, cfg.postgres_timeout), "wtcached-writer");
  w.redis_timeout = cfg.redis_timeout;
  w.postgres_timeout = cfg.postgres_timeout;
  w.tombstone_ttl = cfg.tombstone_ttl;
  w.backoff = cfg.restart_backoff;
  return w;
}

std::vector<std::size_t> groups_of_writer(std::size_t writer, std::size_t writers,
                                          std::size_t groups) {
  std::vector<std::size_t> out;
  for (auto g = writer; g < groups; g += writers)
    out.push_back(g);
  return out;
}

std::string writer_streams_name(const key_layout& layout, const std::string& table,
                                std::size_t writer, std::size_t writers) {
  return layout.prefix + "{g}q:" + table + " for g mod " + std::to_string(writers) + " = " +
         std::to_string(writer);
}

std::chrono::milliseconds idle_delay(std::chrono::milliseconds flush_interval, unsigned rounds) {
  using std::chrono::milliseconds;
  auto base = std::max(std::min(flush_interval, milliseconds(100)) / 2, milliseconds(1));
  auto cap = std::max(base, milliseconds(250));
  auto delay = base;
  for (unsigned i = 0; i < rounds && delay < cap; ++i)
    delay *= 2;
  return std::min(delay, cap);
}

writer_state::writer_state() = default;
writer_state::~writer_state() { release_stream(); }

void writer_state::lose_postgres() {
  db.close();
  owner = false;
}

void writer_state::release_stream() {
  if (owner && db.is_open()) {
    // Freed now, not whenever the backend of a closed session exits: a
    // writer started right after this one (a restart in the same process,
    // the next node) takes the stream over at once.
    try {
      pqxx::nontransaction tx(db.conn());
      tx.exec_prepared("unlock", lock_key);
    } catch (const std::exception& e) {
      cfg.log->debug("write-behind {}: unlocking {} failed ({}); PostgreSQL frees it with the "
                    "session", cfg.ns.table, share, one_line(e.what()));
    }
  }
  lose_postgres();
}

caf::error writer_state::ensure_ready() {
  if (auto err = redis.connect())
    return err;
  if (!db.is_open()) {
    owner = false;
    auto err = db.open([&](session_connection& c, pqxx::internal::pq::PGconn*) {
      auto sql = build_sql(cfg.ns);
      c.prepare("apply_set", sql.apply_set);
      c.prepare("apply_del", sql.apply_del);
      {
        pqxx::nontransaction catalog(c);
        auto batched = build_batch_apply(cfg.ns, column_type(catalog, cfg.ns.table, cfg.ns.key_column),
                                         column_type(catalog, cfg.ns.table, cfg.ns.value_column));
        c.prepare("apply_sets", batched.sets);
        c.prepare("apply_dels", batched.dels);
      }
      c.prepare("dead_letter",
                "INSERT INTO wtcache_dead_letters (table_name, key, version, operation, value, "
                "error) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING");
      c.prepare("try_lock", "SELECT pg_try_advisory_lock($1)");
      c.prepare("unlock", "SELECT pg_advisory_unlock($1)");
      if (cfg.ns.type == value_type::jsonb)
        c.prepare("read_at", sql.read_at_version);
    });
    if (err)
      return err;
  }
  if (owner)
    return caf::none;
  try {
    pqxx::nontransaction tx(db.conn());
    owner = tx.exec_prepared("try_lock", lock_key)[0][0].as<bool>();
  } catch (const std::exception& e) {
    lose_postgres();
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  }
  if (!owner)
    return caf::none;
  // The streams are ours: make sure each has the group (from the stream's
  // start, so nothing appended before it existed is skipped), and take over
  // what any other consumer had been delivered and never acknowledged.
  batch.clear();
  batch_committed = false;
  topped_up = false;
  all_pending();
  std::vector<std::vector<std::string>> create;
  for (auto& st : streams)
    create.push_back({"XGROUP", "CREATE", st.key, writer_group, "0", "MKSTREAM"});
  auto created = redis.pipeline(create);
  if (!created)
    return created.error();
  for (auto& r : *created)
    if (r->type == REDIS_REPLY_ERROR && reply_text(r.get()).rfind("BUSYGROUP", 0) != 0)
      return redis_refused(r, "XGROUP CREATE");
  // XAUTOCLAIM rounds, each for the streams whose cursor has not come back to 0-0.
  std::vector<std::pair<std::size_t, std::string>> cursors;
  for (std::size_t i = 0; i < streams.size(); ++i)
    cursors.emplace_back(i, "0-0");
  while (!cursors.empty()) {
    std::vector<std::vector<std::string>> claims;
    for (auto& [i, cursor] : cursors)
      claims.push_back({"XAUTOCLAIM", streams[i].key, writer_group, consumer, "0", cursor, "COUNT",
                        "1000", "JUSTID"});
    auto claimed = redis.pipeline(claims);
    if (!claimed)
      return claimed.error();
    std::vector<std::pair<std::size_t, std::string>> next;
    for (std::size_t k = 0; k < cursors.size(); ++k) {
      auto& c = (*claimed)[k];
      if (c->type != REDIS_REPLY_ARRAY || c->elements < 2)
        return redis_refused(c, "XAUTOCLAIM");
      auto cursor = reply_text(c->element[0]);
      if (cursor != "0-0")
        next.emplace_back(cursors[k].first, std::move(cursor));
    }
    cursors = std::move(next);
  }
  cfg.log->info("write-behind {}: draining {} ({} streams)", cfg.ns.table, share, streams.size());
  return caf::none;
}

bool writer_state::any_pending() const {
  return std::any_of(streams.begin(), streams.end(), [](auto& st) { return st.reading_pending; });
}

void writer_state::all_pending() {
  for (auto& st : streams)
    st.reading_pending = true;
}

caf::expected<std::size_t> writer_state::read_round(const char* from, bool only_pending,
                                                    std::chrono::milliseconds block) {
  std::vector<std::size_t> asked;
  for (std::size_t k = 0; k < streams.size(); ++k) {
    auto i = (next_read + k) % streams.size();
    if (!only_pending || streams[i].reading_pending)
      asked.push_back(i);
  }
  if (asked.empty() || batch.size() >= cfg.ns.batch_size)
    return std::size_t{0};
  // Round robin: a backlog in the first streams must not keep the others
  // waiting for room in the batch.
  next_read = (next_read + 1) % streams.size();
  // One XREADGROUP for the streams (a single Redis takes streams of any
  // slots in one command); on a Redis Cluster one per stream, pipelined,
  // without waiting (a read cannot wait on streams of several nodes).
  // COUNT is per stream.
  auto count = std::to_string(cfg.ns.batch_size - batch.size());
  std::vector<std::vector<std::string>> reads;
  for (auto i : asked) {
    if (reads.empty() || redis.cluster()) {
      reads.push_back({"XREADGROUP", "GROUP", writer_group, consumer, "COUNT", count});
      if (block.count() > 0 && !redis.cluster()) {
        reads.back().push_back("BLOCK");
        reads.back().push_back(std::to_string(block.count()));
      }
      reads.back().push_back("STREAMS");
    }
    reads.back().push_back(streams[i].key);
  }
  for (auto& read : reads) {
    auto named = std::find(read.begin(), read.end(), "STREAMS") - read.begin() + 1;
    auto n = read.size() - static_cast<std::size_t>(named);
    for (std::size_t k = 0; k < n; ++k)
      read.push_back(from);
  }
  auto replies = redis.pipeline(reads);
  if (!replies)
    return replies.error();
  for (auto& r : *replies) {
    if (r->type != REDIS_REPLY_ERROR)
      continue;
    if (is_error_code(r.get(), "NOGROUP")) {
      // Redis lost a stream (restarted without its data): start again,
      // letting go of the lock now so that this writer can take it again.
      release_stream();
      return make_error(ec::redis_error, "the consumer group is gone");
    }
    return redis_refused(r, "XREADGROUP");
  }
  bool pending = std::string_view(from) == "0";
  // Streams with nothing new are left out of the answer; a read of pending
  // entries answers for each, with an empty list when there are none.
  std::unordered_map<std::string_view, std::size_t> index;
  for (auto i : asked)
    index.emplace(streams[i].key, i);
  std::size_t added = 0;
  for (auto& r : *replies) {
    auto* rep = r.get();
    if (rep->type != REDIS_REPLY_ARRAY)
      continue;
    for (std::size_t k = 0; k < rep->elements; ++k) {
      auto* item = rep->element[k];
      if (item->type != REDIS_REPLY_ARRAY || item->elements != 2)
        continue;
      auto at = index.find(std::string_view(item->element[0]->str, item->element[0]->len));
      if (at == index.end())
        continue;
      auto& st = streams[at->second];
      std::vector<entry> got;
      parse_entries(item->element[1], got);
      if (got.empty()) {
        if (pending)
          st.reading_pending = false;
        continue;
      }
      for (auto& e : got) {
        if (batch.size() >= cfg.ns.batch_size) {
          // Delivered but no room: it stays pending, and is read from there.
          st.reading_pending = true;
          break;
        }
        e.stream = at->second;
        batch.push_back(std::move(e));
        ++added;
      }
    }
  }
  return added;
}

caf::error writer_state::read_batch(bool flushing) {
  if (any_pending()) {
    auto n = read_round("0", true, std::chrono::milliseconds(0));
    if (!n)
      return n.error();
    if (*n > 0) {
      topped_up = true;  // delivered before: write them at once
      return caf::none;
    }
  }
  if (!batch.empty()) {
    // The window is over (or we flush): take what came meanwhile, once.
    auto n = read_round(">", false, std::chrono::milliseconds(0));
    if (!n)
      return n.error();
    topped_up = true;
    return caf::none;
  }
  // Only the lock holder takes new entries: a session that died (and with it
  // the lock) must not take entries another node is draining meanwhile.
  if (!still_owner())
    return make_error(ec::postgres_unavailable, "lost the connection holding the streams' lock");
  // Empty: wait briefly for the first entry (never long, so that a flush
  // request or an exit is not kept waiting).
  auto block = std::min(cfg.ns.flush_interval, std::chrono::milliseconds(100));
  if (flushing)
    block = std::chrono::milliseconds(0);
  auto n = read_round(">", false, block);
  if (!n)
    return n.error();
  idle = batch.empty();
  // The batch is written when full, or flush_interval after its first entry
  // arrived; a backlog (a full read, or flushing) is written at once.
  window_end = steady::now() + cfg.ns.flush_interval;
  topped_up = flushing || batch.size() >= cfg.ns.batch_size;
  return caf::none;
}

bool writer_state::batch_ready() const {
  return !batch.empty() && (batch_committed || topped_up || batch.size() >= cfg.ns.batch_size);
}

caf::error writer_state::persist() {
  // Coalesce: each key's entries, newest first. The newest decides the row;
  // should PostgreSQL refuse it for good, the next newest is tried, as if
  // the writes had been applied one by one.
  std::unordered_map<std::string, std::vector<std::size_t>> by_key;
  for (std::size_t i = 0; i < batch.size(); ++i)
    if (batch[i].op == 's' || batch[i].op == 'd')
      by_key[batch[i].key].push_back(i);
  auto version_of = [&](std::size_t i) { return std::strtoll(batch[i].version.c_str(), nullptr, 10); };
  std::vector<std::vector<std::size_t>> keys;  // candidates per key, newest first
  for (auto& kv : by_key) {
    auto c = std::move(kv.second);
    std::sort(c.begin(), c.end(), [&](auto a, auto b) { return version_of(a) > version_of(b); });
    keys.push_back(std::move(c));
  }
  std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return a.front() < b.front(); });

  if (!batch_committed && !keys.empty()) {
    const auto& prefix = cfg.ns.prefix;
    // Each key's newest entry, all in two statements (SETs, DELs). Any
    // refusal, and the batch goes again row by row (below), where a
    // refusal for good is told apart and goes to the dead letters. False:
    // the batch cannot go this way (a key outside the namespace).
    auto run_batched = [&] {
      std::vector<std::string> set_ids, values, del_ids;
      std::vector<int64_t> set_versions, del_versions;
      std::vector<std::optional<int64_t>> expiries;
      std::unordered_map<int64_t, std::size_t> by_version;  // sets: entry of each version
      bool bytea = cfg.ns.type == value_type::bytea;
      for (auto& e : batch)
        e.stored.clear(), e.dead.clear();
      for (auto& candidates : keys) {
        auto i = candidates.front();
        auto& e = batch[i];
        if (e.key.compare(0, prefix.size(), prefix) != 0)
          return false;
        if (e.op == 'd') {
          del_ids.push_back(e.key.substr(prefix.size()));
          del_versions.push_back(version_of(i));
          continue;
        }
        set_ids.push_back(e.key.substr(prefix.size()));
        values.push_back(value_parameter(e.data, bytea));
        set_versions.push_back(version_of(i));
        expiries.push_back(e.expires_ms >= 0 ? std::optional<int64_t>(e.expires_ms) : std::nullopt);
        // Versions come from each group's clock: two keys of different
        // groups may share one. Such a version names no single entry, and
        // its rows' stored text is not taken (the entries keep the text the
        // client sent), rather than given to the wrong key.
        if (!by_version.emplace(set_versions.back(), i).second)
          by_version[set_versions.back()] = batch.size();
      }
      pqxx::nontransaction tx(db.conn());
      tx.exec("BEGIN");
      if (!set_ids.empty()) {
        auto res = tx.exec_prepared("apply_sets", text_array(set_ids), text_array(values),
                                    number_array(set_versions), number_array(expiries));
        for (const auto& row : res)
          if (!row[1].is_null())
            if (auto at = by_version.find(row[0].as<int64_t>());
                at != by_version.end() && at->second < batch.size())
              batch[at->second].stored = row[1].as<std::string>();
      }
      if (!del_ids.empty())
        tx.exec_prepared("apply_dels", text_array(del_ids), number_array(del_versions));
      tx.exec("COMMIT");
      return true;
    };
    auto run = [&](bool savepoints) {
      for (auto& e : batch)
        e.stored.clear(), e.dead.clear();
      pqxx::nontransaction tx(db.conn());
      tx.exec("BEGIN");
      for (auto& candidates : keys) {
        for (auto i : candidates) {
          auto& e = batch[i];
          if (savepoints)
            tx.exec("SAVEPOINT row");
          try {
            if (e.key.compare(0, prefix.size(), prefix) != 0)
              throw std::invalid_argument("the key is not in namespace \"" + prefix + "\"");
            auto id = e.key.substr(prefix.size());
            auto version = version_of(i);
            if (e.op == 'd') {
              tx.exec_prepared("apply_del", id, version);
            } else {
              // expiry = "value" binds the expiry as $4 (NULL: none).
              auto apply = [&](const auto& value) {
                if (cfg.ns.expiry != expiry_mode::value)
                  return tx.exec_prepared("apply_set", id, value, version);
                return tx.exec_prepared("apply_set", id, value, version,
                                        e.expires_ms >= 0 ? std::optional<int64_t>(e.expires_ms)
                                                          : std::nullopt);
              };
              auto res = cfg.ns.type == value_type::bytea ? apply(pqxx::binarystring(e.data))
                                                          : apply(e.data);
              // A replay changes nothing and returns nothing: read the text
              // back, so the cache ends up with exactly what the row holds.
              if (cfg.ns.type == value_type::jsonb && res.empty())
                res = tx.exec_prepared("read_at", id, version);
              if (cfg.ns.type == value_type::jsonb && !res.empty())
                e.stored = res[0][0].as<std::string>();
            }
            if (savepoints)
              tx.exec("RELEASE SAVEPOINT row");
          } catch (const pqxx::sql_error& err) {
            if (!savepoints || !permanent(err))
              throw;
            e.dead = one_line(err.what());
          } catch (const std::invalid_argument& err) {
            if (!savepoints)
              throw pqxx::data_exception(err.what(), "", "22000");
            e.dead = err.what();
          }
          if (e.dead.empty())
            break;  // this key's row is decided
          tx.exec("ROLLBACK TO SAVEPOINT row");
          tx.exec_prepared("dead_letter", cfg.ns.table, e.key, version_of(i),
                           e.op == 'd' ? "del" : "set", pqxx::binarystring(e.data), e.dead);
        }
      }
      tx.exec("COMMIT");
    };
    auto abandon = [&] {
      db.rollback();
      if (!db.is_open())
        owner = false;
    };
    try {
      bool done = false;
      try {
        done = run_batched();
      } catch (const pqxx::sql_error&) {
        abandon();
        if (!db.is_open())
          return make_error(ec::postgres_unavailable, "connection lost");
      }
      try {
        if (!done)
          run(false);
      } catch (const pqxx::sql_error& e) {
        if (!permanent(e))
          throw;
        // Some row is refused for good: again, a savepoint per row, so that
        // it alone goes to the dead letters.
        abandon();
        if (!db.is_open())
          return make_error(ec::postgres_unavailable, "connection lost");
        run(true);
      }
    } catch (const pqxx::broken_connection& e) {
      lose_postgres();
      return make_error(ec::postgres_unavailable, one_line(e.what()));
    } catch (const pqxx::sql_error& e) {
      abandon();
      return make_error(ec::postgres_error, one_line(e.what()));
    } catch (const std::exception& e) {
      lose_postgres();
      return make_error(ec::postgres_unavailable, one_line(e.what()));
    }
    batch_committed = true;
  }

  // Committed: acknowledge every entry and unpin the cache entries (each at
  // its key's newest version; a tombstone where that one was refused): a
  // section per stream (a key's entries are all in its group's), all in one
  // call of the settle script.
  struct section {
    std::vector<std::string> ids;      // (id, bytes) per stream entry
    std::vector<std::string> entries;  // the cache entries
    std::vector<std::string> unpins;   // (version, action, ttl, has, norm) per entry
  };
  std::map<std::size_t, section> sections;  // by stream, in stream order
  for (auto& e : batch) {
    auto& sec = sections[e.stream];
    sec.ids.push_back(e.id);
    sec.ids.push_back(std::to_string(e.bytes));
  }
  std::size_t dead_count = 0;
  auto now_ms = unix_now_ms();
  auto floor_ms = shortest_entry_ttl_ms(cfg.redis_timeout);
  for (auto& candidates : keys) {
    auto& e = batch[candidates.front()];
    // A value that expires: its entry goes soon after (it says "absent" by
    // its field e meanwhile), yet outlives any fill of an older row still
    // on its way, as every entry does (shortest_entry_ttl_ms).
    auto ttl = e.ttl_ms;
    if (e.expires_ms >= 0) {
      auto left = std::max(e.expires_ms - now_ms, floor_ms);
      ttl = ttl > 0 ? std::min(ttl, left) : left;
    }
    auto& sec = sections[e.stream];
    sec.entries.push_back(cfg.layout.entry(e.key));
    sec.unpins.insert(sec.unpins.end(), {e.version, e.dead.empty() ? "u" : "t",
                                         std::to_string(ttl), e.stored.empty() ? "0" : "1",
                                         e.stored});
  }
  // One call for all on a single Redis; on a Redis Cluster a call per
  // section (each stream is of its own slot), pipelined.
  struct call {
    std::vector<std::string> keys, args;
  };
  std::vector<call> calls;
  for (auto& [i, sec] : sections) {
    if (calls.empty() || redis.cluster())
      calls.push_back({{}, {writer_group, std::to_string(cfg.tombstone_ttl.count()), "0"}});
    auto& c = calls.back();
    c.keys.push_back(streams[i].key);
    c.keys.push_back(streams[i].stats);
    c.keys.insert(c.keys.end(), sec.entries.begin(), sec.entries.end());
    c.args[2] = std::to_string(std::stoll(c.args[2]) + 1);
    c.args.push_back(std::to_string(sec.ids.size() / 2));
    c.args.push_back(std::to_string(sec.entries.size()));
    c.args.insert(c.args.end(), sec.ids.begin(), sec.ids.end());
    c.args.insert(c.args.end(), sec.unpins.begin(), sec.unpins.end());
  }
  std::vector<std::vector<std::string>> settles;
  for (auto& c : calls)
    settles.push_back(redis.evalsha(redis_script::settle, c.keys, c.args));
  auto replies = redis.pipeline(settles);
  if (!replies)
    return replies.error();
  for (std::size_t k = 0; k < calls.size(); ++k) {
    auto* rep = (*replies)[k].get();
    if (is_error_code(rep, "NOSCRIPT")) {
      // The script cache was flushed: this call again, loading the script.
      auto again = redis.eval(redis_script::settle, calls[k].keys, calls[k].args);
      if (!again)
        return again.error();
      if ((*again)->type == REDIS_REPLY_ERROR)
        return redis_refused(*again, "settle");
    } else if (rep->type == REDIS_REPLY_ERROR) {
      return redis_refused((*replies)[k], "settle");
    }
  }
  for (auto& e : batch)
    if (!e.dead.empty()) {
      ++dead_count;
      cfg.log->error("write-behind {}: PostgreSQL refused {} at version {}; moved to "
                    "wtcache_dead_letters: {}",
                    cfg.ns.table, e.key, e.version, e.dead);
    }
  auto& m = *cfg.metrics;
  m.flushed.fetch_add(batch.size(), std::memory_order_relaxed);
  m.rows.fetch_add(keys.size(), std::memory_order_relaxed);
  m.batches.fetch_add(1, std::memory_order_relaxed);
  m.dead_letters.fetch_add(dead_count, std::memory_order_relaxed);
  batch.clear();
  batch_committed = false;
  topped_up = false;
  all_pending();  // anything delivered and not acknowledged comes first
  return caf::none;
}

bool writer_state::still_owner() {
  try {
    pqxx::nontransaction tx(db.conn());
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {
    lose_postgres();
    return false;
  }
}

bool writer_state::refresh_stats() {
  if (!redis.connected())
    return false;
  last_stats = steady::now();
  auto& m = *cfg.metrics;
  // Per stream: its counters and its oldest entry (stream ids start with the
  // milliseconds Redis's clock showed at XADD); then Redis's clock.
  std::vector<std::vector<std::string>> asks;
  for (auto& st : streams) {
    asks.push_back({"HMGET", st.stats, "n", "b"});
    asks.push_back({"XRANGE", st.key, "-", "+", "COUNT", "1"});
  }
  asks.push_back({"TIME"});
  auto replies = redis.pipeline(asks);
  if (!replies)
    return false;
  int64_t depth = 0, bytes = 0, oldest = -1;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    auto* counts = (*replies)[2 * i].get();
    if (counts->type != REDIS_REPLY_ARRAY || counts->elements != 2)
      return false;
    depth += std::strtoll(reply_text(counts->element[0]).c_str(), nullptr, 10);
    bytes += std::strtoll(reply_text(counts->element[1]).c_str(), nullptr, 10);
    auto* first = (*replies)[2 * i + 1].get();
    if (first->type == REDIS_REPLY_ARRAY && first->elements == 1) {
      int64_t added = std::strtoll(reply_text(first->element[0]->element[0]).c_str(), nullptr, 10);
      oldest = oldest < 0 ? added : std::min(oldest, added);
    }
  }
  m.depth_of[cfg.writer_index].store(depth, std::memory_order_relaxed);
  m.bytes_of[cfg.writer_index].store(bytes, std::memory_order_relaxed);
  int64_t age = 0;
  auto* time = replies->back().get();
  if (oldest >= 0 && time->type == REDIS_REPLY_ARRAY && time->elements == 2) {
    auto now_ms = std::strtoll(reply_text(time->element[0]).c_str(), nullptr, 10) * 1000 +
                  std::strtoll(reply_text(time->element[1]).c_str(), nullptr, 10) / 1000;
    age = std::max<int64_t>(0, now_ms - oldest);
  }
  m.oldest_age_ms[cfg.writer_index].store(age, std::memory_order_relaxed);
  return true;
}

stream_report writer_state::read_queue() {
  stream_report out;
  out.stream = share;
  out.streams = static_cast<int64_t>(streams.size());
  out.owned = owner;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = !redis.connected();  // a failure on a new connection is not a stale one
    std::vector<std::vector<std::string>> asks;
    for (auto& st : streams) {
      asks.push_back({"XLEN", st.key});
      asks.push_back({"XPENDING", st.key, writer_group});
    }
    auto replies = redis.pipeline(asks);
    if (replies) {
      out.length = 0;
      out.pending = 0;
      for (std::size_t i = 0; i < streams.size(); ++i) {
        auto* len = (*replies)[2 * i].get();
        auto* p = (*replies)[2 * i + 1].get();
        if (len->type != REDIS_REPLY_INTEGER) {
          out.error = "XLEN " + streams[i].key + " answered " + reply_text(len);
          return out;
        }
        out.length += len->integer;
        if (p->type == REDIS_REPLY_ARRAY && p->elements >= 1 &&
            p->element[0]->type == REDIS_REPLY_INTEGER)
          out.pending += p->element[0]->integer;
        else if (!is_error_code(p, "NOGROUP"))  // no group: nothing was ever delivered
          out.error = "XPENDING " + streams[i].key + " answered " + reply_text(p);
      }
      return out;
    }
    out.error = error_detail(replies.error());
    if (out.error.empty())
      out.error = to_string(static_cast<ec>(replies.error().code()));
    if (fresh)
      break;
  }
  return out;
}

namespace {

// Arms the loop's next step; a tick armed earlier no longer counts.
void schedule(self_ptr self, std::chrono::nanoseconds delay) {
  auto gen = ++self->state.tick;
  if (delay.count() <= 0)
    self->send(self, atom::tick::value, gen);
  else
    self->delayed_send(self, delay, atom::tick::value, gen);
}

// Answers a flush request once Redis says the stream is empty, or when its
// time is up: the answer is what Redis holds at that moment, whoever owns
// the stream (a batch in memory is still in the stream until it settles).
void check_flush(self_ptr self) {
  auto& st = self->state;
  if (!st.flush_promise)
    return;
  auto report = st.read_queue();
  bool empty = report.error.empty() && report.length == 0 && report.pending == 0;
  if (!empty && now_ns() < st.flush_deadline)
    return;
  st.flush_promise->deliver(std::move(report));
  st.flush_promise.reset();
}

void failed(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  // Whatever was read and not committed is in the pending list: read it
  // again from there, in order, on the next attempt.
  if (!st.batch_committed) {
    st.batch.clear();
    st.topped_up = false;
  }
  st.all_pending();
  auto why = error_detail(err);
  if (why.empty())
    why = to_string(static_cast<ec>(err.code()));
  // The queue's figures stay current while it cannot drain.
  bool counted = st.refresh_stats();
  if (st.failing.empty()) {
    auto held = counted ? "the queue holds " + std::to_string(st.cfg.metrics->depth()) +
                            " entries"
                        : std::string("Redis cannot say how many entries are queued");
    st.cfg.log->warn("write-behind {} ({}): {}; {}, retrying with backoff", st.cfg.ns.table,
                 st.share, why, held);
  }
  st.failing = why;
  if (!st.batch.empty() || st.cfg.metrics->depth() > 0)
    st.cfg.metrics->retries.fetch_add(1, std::memory_order_relaxed);
  schedule(self, st.cfg.backoff.delay(st.attempt++, st.rng));
  check_flush(self);
}

void step(self_ptr self) {
  auto& st = self->state;
  if (auto err = st.ensure_ready()) {
    failed(self, err);
    return;
  }
  bool flushing = st.flush_promise.has_value();
  if (!st.owner) {
    // Another session holds the stream's lock: look again now and then, and
    // often while a flush waits (the holder may have just gone away).
    st.refresh_stats();
    check_flush(self);
    schedule(self, flushing ? std::chrono::milliseconds(50) : std::chrono::milliseconds(1000));
    return;
  }
  if (!st.batch_ready()) {
    auto now = steady::now();
    if (!st.batch.empty() && !flushing && now < st.window_end) {
      // Gathering: look again when the window closes, not before.
      schedule(self, st.window_end - now);
      return;
    }
    if (auto err = st.read_batch(flushing)) {
      failed(self, err);
      return;
    }
    if (!st.batch_ready() && !st.batch.empty()) {
      schedule(self, st.window_end - steady::now());
      return;
    }
  }
  if (st.batch_ready())
    if (auto err = st.persist()) {
      failed(self, err);
      return;
    }
  if (!st.failing.empty()) {
    st.cfg.log->info("write-behind {} ({}): draining again after {} failed attempts",
                 st.cfg.ns.table, st.share, st.attempt);
    st.failing.clear();
  }
  st.attempt = 0;
  if (steady::now() - st.last_stats > std::chrono::milliseconds(200))
    st.refresh_stats();
  check_flush(self);
  // On a Redis Cluster a read that found nothing did not wait: look again
  // after half the flush interval (at most 50 ms), twice that after each
  // round that found nothing, up to a quarter of a second.
  auto again = std::chrono::nanoseconds(0);
  if (st.idle && !flushing && st.redis.cluster())
    again = idle_delay(st.cfg.ns.flush_interval, st.idle_rounds++);
  else
    st.idle_rounds = 0;
  st.idle = false;
  schedule(self, again);
}

}  // namespace

writer_actor::behavior_type write_behind_writer(self_ptr self, writer_settings cfg) {
  block_sigpipe_on_this_thread();  // detached: this is the worker's own thread
  auto& st = self->state;
  st.cfg = std::move(cfg);
  for (auto g : groups_of_writer(st.cfg.writer_index, st.cfg.ns.writers, st.cfg.layout.groups))
    st.streams.push_back({st.cfg.layout.stream(st.cfg.ns.table, g),
                          st.cfg.layout.stats(st.cfg.ns.table, g)});
  st.share = writer_streams_name(st.cfg.layout, st.cfg.ns.table, st.cfg.writer_index,
                                st.cfg.ns.writers);
  st.lock_key = stream_lock_id(st.share);
  // A read may block for up to 100 ms on top of the round trip.
  st.redis = redis_connection(st.cfg.redis, st.cfg.redis_timeout + std::chrono::milliseconds(100));
  if (auto* m = st.cfg.node_metrics.get())
    st.redis.count_into(&m->redis_redirections, &m->redis_slot_map_loads);
  st.db = postgres_session(session_settings{st.cfg.postgres_url, st.cfg.postgres_timeout, false});
  schedule(self, std::chrono::nanoseconds(0));
  return {
    [=](atom::tick, uint64_t gen) {
      if (gen == self->state.tick)
        step(self);
    },
    [=](atom::deadline) { check_flush(self); },
    [=](atom::flush, int64_t deadline) -> caf::result<stream_report> {
      auto& st = self->state;
      if (st.flush_promise)
        st.flush_promise->deliver(st.read_queue());
      st.flush_promise = self->make_response_promise();
      st.flush_deadline = deadline;
      // Stop gathering and write what is there; a standby tries the lock
      // now. A writer backing off after a failure keeps its backoff.
      if (st.failing.empty())
        schedule(self, std::chrono::nanoseconds(0));
      auto wait = std::chrono::nanoseconds(deadline - now_ns());
      self->delayed_send(self, std::max(wait, std::chrono::nanoseconds(0)), atom::deadline::value);
      check_flush(self);
      return caf::delegated<stream_report>{};
    },
  };
}

}  // namespace wtcache
