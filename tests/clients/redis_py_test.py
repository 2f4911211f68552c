"""What applications call through redis-py (Debian's python3-redis), against wtcached."""
import json
import os
import sys
import time

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
p = f"redispy:{os.getpid()}:"


def until(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


assert r.setex(p + "user:1", 60, "alice") is True
assert r.get(p + "user:1") == "alice"
assert r.keys(p + "user:*") == [p + "user:1"]

assert r.set(p + "lock", "me", ex=30, nx=True) is True
assert r.set(p + "lock", "you", px=30000, nx=True) is None

assert r.incr(p + "n") == 1
assert r.expire(p + "n", 100) is True
assert 95 < r.ttl(p + "n") <= 100

# The default pipeline is a transaction: MULTI ... EXEC.
with r.pipeline() as pipe:
    assert pipe.set(p + "a", "1").incr(p + "a").get(p + "a").execute() == [True, 2, "2"]
with r.pipeline(transaction=False) as pipe:
    assert pipe.set(p + "b", "x").getdel(p + "b").exists(p + "b").execute() == [True, "x", 0]

sessions = [p + "sess:" + i for i in ("s1", "s2", "s3")]
for s in sessions:
    assert r.set(s, json.dumps({"user": s}), ex=1800)
assert r.expire(sessions[0], 3600) is True
assert r.ttl(sessions[0]) > 1800
listed = set(r.scan_iter(match=p + "sess:*", count=2))
assert listed == set(sessions), listed
assert len([v for v in r.mget(sorted(listed)) if v is not None]) == 3
assert r.delete(sessions[2]) == 1
assert r.set(sessions[1], "{}", px=300)
assert until(lambda: r.get(sessions[1]) is None, 5), "session did not expire"

# WATCH / MULTI / EXEC, the optimistic-locking idiom.
with r.pipeline() as pipe:
    pipe.watch(p + "n")
    current = int(pipe.get(p + "n"))
    pipe.multi()
    pipe.set(p + "n", current + 1)
    assert pipe.execute() == [True]
assert r.get(p + "n") == "2"

assert r.flushdb() is True
assert r.get(p + "user:1") is None

# Users and passwords, on the second node run.sh starts.
secure = int(sys.argv[2])
try:
    redis.Redis(host="127.0.0.1", port=secure).get("app:x")
    raise AssertionError("answered without a password")
except redis.exceptions.AuthenticationError as e:
    assert "Authentication required" in str(e), e
try:
    redis.Redis(host="127.0.0.1", port=secure, username="app", password="wrong").ping()
    raise AssertionError("answered with a wrong password")
except redis.exceptions.ResponseError as e:  # as with Redis: redis-py 4.3 maps WRONGPASS so
    assert "WRONGPASS invalid username-password pair" in str(e), e
app = redis.Redis(host="127.0.0.1", port=secure, username="app",
                  password=os.environ["WTCACHE_TEST_APP_PW"], decode_responses=True)
assert app.set(f"app:{os.getpid()}", "v") is True
assert app.get(f"app:{os.getpid()}") == "v"
try:
    app.get("other:x")
    raise AssertionError("read a key outside the user's patterns")
except redis.exceptions.NoPermissionError as e:
    assert "no permissions to access one of the keys" in str(e), e
admin = redis.Redis(host="127.0.0.1", port=secure, password=os.environ["WTCACHE_TEST_DEFAULT_PW"],
                    decode_responses=True)
assert admin.get(f"app:{os.getpid()}") == "v"
assert admin.delete(f"app:{os.getpid()}") == 1
print("redis-py: all calls answered as expected")
