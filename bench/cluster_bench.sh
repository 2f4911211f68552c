#!/usr/bin/env bash
# Same-run comparison on loopback: wtcached on one Redis against wtcached on
# a Redis Cluster of three masters (ports 7101-7103), each with embedded
# PostgreSQL: write-behind SET, write-through SET and GET hits, two rounds,
# with redis-benchmark (-c C, default 50; -n N, default 20000). Only the
# ratios within one run compare. Usage: bench/cluster_bench.sh
set -u
cd "$(dirname "$0")/.."
B=${WTCACHED:-$PWD/build/wtcached}
D=$(mktemp -d /tmp/wtcache-cluster-bench-XXXXXX)
P1="" P2=""
cleanup() {
  [[ -n $P1 ]] && kill $P1 2>/dev/null
  [[ -n $P2 ]] && kill $P2 2>/dev/null
  wait 2>/dev/null
  for p in 7101 7102 7103; do redis-cli -p $p shutdown nosave >/dev/null 2>&1; done
  rm -rf "$D"
}
trap cleanup EXIT
for p in 7101 7102 7103; do
  if redis-cli -p $p ping >/dev/null 2>&1; then echo "port $p is taken: stop what listens there" >&2; exit 1; fi
done
for p in 7101 7102 7103; do mkdir -p $D/$p; (cd $D/$p && redis-server --port $p --cluster-enabled yes --cluster-config-file nodes.conf --appendonly yes --appendfsync everysec --save "" --daemonize yes --logfile redis.log); done
for p in 7101 7102 7103; do for i in $(seq 100); do redis-cli -p $p ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done; done
redis-cli --cluster create 127.0.0.1:7101 127.0.0.1:7102 127.0.0.1:7103 --cluster-replicas 0 --cluster-yes > $D/create.log \
  || { cat $D/create.log; exit 1; }
for i in $(seq 50); do [ "$(redis-cli -p 7101 cluster info | grep -c cluster_state:ok)" = 1 ] && break; sleep 0.2; done
python3 - <<PY
s=open('config/wtcache.toml').read()
open('$D/single.toml','w').write(s)
s=s.replace('[redis]\n','[redis]\ncluster = true\nurl = "redis://127.0.0.1:7101"\n',1)
s=s.replace('\nurl = ""\n# Connections (each a detached worker actor; requests','\n# Connections (each a detached worker actor; requests',1)
s=s.replace('\ncluster = false\n','\n',1)
open('$D/cluster.toml','w').write(s)
PY
$B --config $D/single.toml --listen 127.0.0.1:6491 --http-listen "" --data-dir $D/var1 > $D/single.log 2>&1 &
P1=$!
$B --config $D/cluster.toml --listen 127.0.0.1:6492 --http-listen "" --data-dir $D/var2 > $D/cluster.log 2>&1 &
P2=$!
for port in 6491 6492; do
  for i in $(seq 300); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done
  redis-cli -p $port ping 2>/dev/null | grep -q PONG || { tail -20 $D/*.log; exit 1; }
done
rate() { redis-benchmark -p $1 -c ${C:-50} -n ${N:-20000} -r 1000 -q "${@:2}" 2>/dev/null | grep -o '[0-9.]* requests per second' | head -1 | cut -d' ' -f1; }
for round in 1 2; do
  for port in 6491 6492; do
    name=$([ $port = 6491 ] && echo single || echo cluster)
    wb=$(rate $port set cart:__rand_int__ '[1]')
    wt=$(rate $port set k:__rand_int__ v)
    get=$(rate $port get k:__rand_int__)
    echo "round $round $name: write-behind SET $wb/s, write-through SET $wt/s, GET $get/s"
  done
done
redis-cli -p 6492 info | grep -E "cache_reader|redirections"
