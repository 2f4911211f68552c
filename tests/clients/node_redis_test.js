// What applications call through node-redis (v4), against wtcached (tests/clients/run.sh).
'use strict';
const assert = require('assert');
const { createClient } = require('redis');

const port = Number(process.argv[2]);
const until = require('./until');

(async () => {
  const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  c.on('error', (e) => { console.error('node-redis:', e); process.exit(1); });
  await c.connect();
  const p = `noderedis:${process.pid}:`;

  assert.strictEqual(await c.setEx(`${p}user:1`, 60, 'alice'), 'OK');
  assert.strictEqual(await c.get(`${p}user:1`), 'alice');
  assert.deepStrictEqual(await c.keys(`${p}user:*`), [`${p}user:1`]);

  assert.strictEqual(await c.set(`${p}lock`, 'me', { EX: 30, NX: true }), 'OK');
  assert.strictEqual(await c.set(`${p}lock`, 'you', { PX: 30000, NX: true }), null);

  assert.strictEqual(await c.incr(`${p}n`), 1);
  assert.strictEqual(await c.expire(`${p}n`, 100), true);
  const ttl = await c.ttl(`${p}n`);
  assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);

  assert.deepStrictEqual(await c.multi().set(`${p}a`, '1').incr(`${p}a`).get(`${p}a`).exec(),
                         ['OK', 2, '2']);
  assert.deepStrictEqual(await c.multi().set(`${p}b`, 'x').getDel(`${p}b`).execAsPipeline(),
                         ['OK', 'x']);

  const sessions = ['s1', 's2', 's3'].map((id) => `${p}sess:${id}`);
  for (const s of sessions)
    assert.strictEqual(await c.set(s, JSON.stringify({ user: s }), { EX: 1800 }), 'OK');
  assert.strictEqual(await c.expire(sessions[0], 3600), true);
  const listed = [];
  for await (const k of c.scanIterator({ MATCH: `${p}sess:*`, COUNT: 2 }))
    listed.push(k);
  assert.deepStrictEqual([...new Set(listed)].sort(), [...sessions].sort());
  assert.strictEqual((await c.mGet(sessions)).filter((v) => v !== null).length, 3);
  assert.strictEqual(await c.del(sessions[2]), 1);
  assert.strictEqual(await c.set(sessions[1], '{}', { PX: 300 }), 'OK');
  assert.ok(await until(async () => (await c.get(sessions[1])) === null, 5000), 'session did not expire');

  assert.strictEqual(await c.flushDb(), 'OK');
  assert.strictEqual(await c.get(`${p}user:1`), null);
  await c.quit();

  // Users and passwords, on the second node run.sh starts.
  const secure = Number(process.argv[3]);
  const wrong = createClient({ socket: { host: '127.0.0.1', port: secure, reconnectStrategy: false },
                               username: 'app', password: 'wrong' });
  wrong.on('error', () => {});
  await assert.rejects(wrong.connect(), /WRONGPASS invalid username-password pair/);
  const app = createClient({ socket: { host: '127.0.0.1', port: secure, reconnectStrategy: false },
                             username: 'app', password: process.env.WTCACHE_TEST_APP_PW });
  app.on('error', (e) => { console.error('node-redis:', e); process.exit(1); });
  await app.connect();
  assert.strictEqual(await app.set(`app:${p}`, 'v'), 'OK');
  assert.strictEqual(await app.get(`app:${p}`), 'v');
  await assert.rejects(app.get('other:x'), /NOPERM this user has no permissions to access one of the keys/);
  assert.strictEqual(await app.del(`app:${p}`), 1);
  await app.quit();
  console.log('node-redis: all calls answered as expected');
})().catch((e) => {
  console.error('node-redis:', e);
  process.exit(1);
});
