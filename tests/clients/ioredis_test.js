// What applications call through ioredis, against wtcached (tests/clients/run.sh).
'use strict';
const assert = require('assert');
const Redis = require('ioredis');

const port = Number(process.argv[2]);
const until = require('./until');

(async () => {
  const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  const p = `ioredis:${process.pid}:`;

  // The seeds' write-through code: SETEX after the upsert, GET, KEYS.
  assert.strictEqual(await r.setex(`${p}user:1`, 60, 'alice'), 'OK');
  assert.strictEqual(await r.get(`${p}user:1`), 'alice');
  assert.deepStrictEqual(await r.keys(`${p}user:*`), [`${p}user:1`]);

  // A lock: SET NX with a TTL.
  assert.strictEqual(await r.set(`${p}lock`, 'me', 'EX', 30, 'NX'), 'OK');
  assert.strictEqual(await r.set(`${p}lock`, 'you', 'PX', 30000, 'NX'), null);
  assert.strictEqual(await r.get(`${p}lock`), 'me');

  // Counters and expiry.
  assert.strictEqual(await r.incr(`${p}n`), 1);
  assert.strictEqual(await r.incrby(`${p}n`, 41), 42);
  assert.strictEqual(await r.expire(`${p}n`, 100), 1);
  const ttl = await r.ttl(`${p}n`);
  assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);

  // A transactional pipeline (MULTI/EXEC) and a plain one.
  assert.deepStrictEqual(await r.multi().set(`${p}a`, '1').incr(`${p}a`).get(`${p}a`).exec(),
                         [[null, 'OK'], [null, 2], [null, '2']]);
  assert.deepStrictEqual(await r.pipeline().set(`${p}b`, 'x').get(`${p}b`).getdel(`${p}b`)
                           .exists(`${p}b`).exec(),
                         [[null, 'OK'], [null, 'x'], [null, 'x'], [null, 0]]);

  // A session store's life: create with a TTL, touch, read, list, destroy, expire.
  const sessions = ['s1', 's2', 's3'].map((id) => `${p}sess:${id}`);
  for (const s of sessions)
    assert.strictEqual(await r.set(s, JSON.stringify({ user: s }), 'EX', 1800), 'OK');
  assert.strictEqual(await r.expire(sessions[0], 3600), 1);
  assert.ok((await r.ttl(sessions[0])) > 1800);
  assert.deepStrictEqual(JSON.parse(await r.get(sessions[1])), { user: sessions[1] });
  const listed = new Set();
  await new Promise((ok, fail) => {
    r.scanStream({ match: `${p}sess:*`, count: 2 })
      .on('data', (keys) => keys.forEach((k) => listed.add(k)))
      .on('end', ok)
      .on('error', fail);
  });
  assert.deepStrictEqual([...listed].sort(), [...sessions].sort());
  const values = await r.mget(...listed);
  assert.strictEqual(values.filter((v) => v !== null).length, 3);
  assert.strictEqual(await r.del(sessions[2]), 1);
  assert.strictEqual(await r.set(sessions[1], '{}', 'PX', 300), 'OK');
  assert.ok(await until(async () => (await r.get(sessions[1])) === null, 5000), 'session did not expire');
  assert.strictEqual(await r.exists(sessions[1]), 0);

  // FLUSHDB (run.sh sets allow_flush = true).
  assert.strictEqual(await r.flushdb(), 'OK');
  assert.strictEqual(await r.get(`${p}user:1`), null);
  assert.strictEqual(await r.dbsize() >= 0, true);
  r.disconnect();

  // Users and passwords, on the second node run.sh starts.
  const secure = Number(process.argv[3]);
  const stranger = new Redis({ host: '127.0.0.1', port: secure, maxRetriesPerRequest: 0 });
  stranger.on('error', () => {});  // the NOAUTH, also reported below
  await assert.rejects(stranger.get('app:x'), /NOAUTH Authentication required/);
  stranger.disconnect();
  const wrong = new Redis({ host: '127.0.0.1', port: secure, username: 'app', password: 'wrong',
                            lazyConnect: true, retryStrategy: () => null });
  // As with Redis: the refusal comes as an 'error' event, and connect()
  // fails once the connection closes.
  const refusals = [];
  wrong.on('error', (e) => refusals.push(e.message));
  await assert.rejects(wrong.connect(), /Connection is closed/);
  assert.ok(refusals.some((m) => /^WRONGPASS invalid username-password pair/.test(m)), refusals);
  wrong.disconnect();
  const app = new Redis({ host: '127.0.0.1', port: secure, username: 'app',
                          password: process.env.WTCACHE_TEST_APP_PW, maxRetriesPerRequest: 1 });
  assert.strictEqual(await app.set(`app:${p}`, 'v'), 'OK');
  assert.strictEqual(await app.get(`app:${p}`), 'v');
  await assert.rejects(app.get('other:x'), /NOPERM this user has no permissions to access one of the keys/);
  assert.strictEqual(await app.del(`app:${p}`), 1);
  app.disconnect();
  console.log('ioredis: all calls answered as expected');
})().catch((e) => {
  console.error('ioredis:', e);
  process.exit(1);
});
