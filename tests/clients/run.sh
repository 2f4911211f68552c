#!/usr/bin/env bash
# Real client libraries against wtcached: redis-py (Debian's python3-redis),
# ioredis and node-redis (npm, pinned in package-lock.json). Starts a
# wtcached of its own on the embedded default (private Redis and
# PostgreSQL in a temporary directory), with allow_flush = true, and runs
# each client's script. Usage: run.sh WTCACHED SOURCE_DIR
set -euo pipefail
wtcached=$1
src=$2
dir=$(mktemp -d /tmp/wtcache-clients-XXXXXX)
chmod 755 "$dir"
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

sed 's/^allow_flush = false/allow_flush = true/' "$src/config/wtcache.toml" > "$dir/wtcache.toml"
grep -q '^allow_flush = true' "$dir/wtcache.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$wtcached" --config "$dir/wtcache.toml" --listen "127.0.0.1:$port" --http-listen "" \
  --data-dir "$dir/var" > "$dir/wtcached.log" 2>&1 &
pid=$!
# Ready once it answers PING (it starts its own servers first), within a minute.
for _ in $(seq 1 600); do
  if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/wtcached.log"; exit 1; fi
  sleep 0.1
done
redis-cli -p "$port" ping | grep -q PONG || { cat "$dir/wtcached.log"; exit 1; }

# A second node on the same Redis and PostgreSQL, with passwords: the
# default user's, and a user "app" limited to keys under "app:". Each
# client authenticates as a Redis user would (the passwords reach wtcached
# through the environment, as the README suggests).
redis_url=$(sed -n 's/^  redis: *\(redis:[^ ]*\).*/\1/p' "$dir/wtcached.log")
postgres_url=$(sed -n 's/^  postgres: *\(postgresql:[^ ]*\).*/\1/p' "$dir/wtcached.log")
export WTCACHE_TEST_DEFAULT_PW="default-$RANDOM-pw" WTCACHE_TEST_APP_PW="app-$RANDOM-pw"
cat > "$dir/secure.toml" <<TOML
[server]
requirepass_env = "WTCACHE_TEST_DEFAULT_PW"
[[user]]
name = "app"
password_env = "WTCACHE_TEST_APP_PW"
keys = ["app:*"]
TOML
chmod 600 "$dir/secure.toml"
secure_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$wtcached" --config "$dir/secure.toml" --listen "127.0.0.1:$secure_port" --http-listen "" \
  --redis "$redis_url" --postgres "$postgres_url" > "$dir/secure.log" 2>&1 &
secure_pid=$!
trap 'kill $secure_pid 2>/dev/null; wait $secure_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 600); do
  if redis-cli -p "$secure_port" ping 2>/dev/null | grep -q NOAUTH; then break; fi
  if ! kill -0 "$secure_pid" 2>/dev/null; then cat "$dir/secure.log"; exit 1; fi
  sleep 0.1
done

status=0
/usr/bin/python3 "$src/tests/clients/redis_py_test.py" "$port" "$secure_port" || status=1
node "$src/tests/clients/ioredis_test.js" "$port" "$secure_port" || status=1
node "$src/tests/clients/node_redis_test.js" "$port" "$secure_port" || status=1
[[ $status -eq 0 ]] || { tail -50 "$dir/wtcached.log"; tail -20 "$dir/secure.log"; }
exit $status
