// Unit tests of the portal SDK, with an in-memory transport in place of
// the extension (the browser tests use the real ones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, toBase64, fromBase64, CardbridgeError, ErrorCodes, PROTOCOL_VERSION } from '../sdk/cardbridge.js';

// fakeTransport answers like a daemon; handler(msg) returns the reply.
function fakeTransport(handler) {
  const t = {
    kind: 'extension',
    sent: [],
    onmessage: null,
    onclose: null,
    send(msg) {
      t.sent.push(msg);
      const reply = handler(msg);
      if (reply) queueMicrotask(() => t.onmessage({ jsonrpc: '2.0', id: msg.id, ...reply }));
    },
    close() { t.onclose && t.onclose(); },
    push(msg) { t.onmessage(msg); },
  };
  return t;
}

const info = { result: { name: 'cardbridge', version: 'test', protocol: PROTOCOL_VERSION, methods: [] } };

test('connect checks the protocol version and calls methods', async () => {
  const t = fakeTransport((m) => {
    if (m.method === 'system.info') return info;
    if (m.method === 'sign') return { result: { signature: toBase64(new Uint8Array([1, 2])) } };
    if (m.method === 'cards.list') return { error: { code: 1007, message: 'origin_denied', data: { reason: 'the user did not allow it' } } };
    return null;
  });
  const cb = await connect({ extension: async () => t });
  assert.equal(cb.transport, 'extension');
  assert.equal(cb.info.version, 'test');
  const res = await cb.sign({ keyId: '01', algorithm: 'ECDSA-SHA256', digest: new Uint8Array(32) });
  assert.deepEqual([...fromBase64(res.signature)], [1, 2]);
  const sent = t.sent.find((m) => m.method === 'sign');
  assert.equal(sent.params.digest, toBase64(new Uint8Array(32)));
  assert.equal('card' in sent.params, false, 'unset fields are not sent');
  await assert.rejects(cb.listCards(), (e) => e instanceof CardbridgeError && e.code === ErrorCodes.ORIGIN_DENIED && e.reason === 'the user did not allow it');
});

test('a daemon of another protocol version is refused', async () => {
  const t = fakeTransport(() => ({ result: { name: 'cardbridge', protocol: 99 } }));
  await assert.rejects(connect({ extension: async () => t }), (e) => e.code === ErrorCodes.VERSION_MISMATCH);
});

test('notifications reach listeners, and a closed connection fails pending calls', async () => {
  const t = fakeTransport((m) => (m.method === 'system.info' ? info : null));
  const cb = await connect({ extension: async () => t });
  const seen = [];
  const off = cb.on('cards.changed', (p) => seen.push(p));
  t.push({ jsonrpc: '2.0', method: 'cards.changed', params: { readers: [] } });
  off();
  t.push({ jsonrpc: '2.0', method: 'cards.changed', params: { readers: [1] } });
  assert.deepEqual(seen, [{ readers: [] }]);
  const pending = cb.call('keys.list');
  t.close();
  await assert.rejects(pending, (e) => e.code === ErrorCodes.DISCONNECTED);
});

test('nothing to connect to is a typed error with advice', async () => {
  await assert.rejects(connect({ transports: [], launch: false }), (e) => e.code === ErrorCodes.NOT_RUNNING && /not running/.test(e.reason));
});

test('base64 round trip of binary data', () => {
  const bytes = new Uint8Array(70000).map((_, i) => i % 256);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(toBase64('already'), 'already');
});

test('asking for the extension alone, without it, says so', async () => {
  await assert.rejects(connect({ transports: ['extension'], extension: async () => null }), (e) => e.code === ErrorCodes.EXTENSION_UNAVAILABLE);
});

test('a call stops waiting on its AbortSignal, and its late answer is dropped', async () => {
  let held = null;
  const t = fakeTransport((m) => {
    if (m.method === 'system.info') return info;
    if (m.method === 'sign') { held = m; return null; }
    return { result: { readers: [] } };
  });
  const cb = await connect({ extension: async () => t });
  const ac = new AbortController();
  const pending = cb.sign({ keyId: '01', digest: new Uint8Array(32) }, { signal: ac.signal });
  ac.abort(new Error('the user left the page'));
  await assert.rejects(pending, (e) => e instanceof CardbridgeError && e.code === ErrorCodes.ABORTED && /the user left the page/.test(e.reason));
  t.push({ jsonrpc: '2.0', id: held.id, result: { signature: 'AA==' } });
  assert.deepEqual(await cb.listCards(), { readers: [] }, 'the connection goes on after an abort');
  // A signal aborted beforehand sends nothing.
  const before = t.sent.length;
  await assert.rejects(cb.listCards({ signal: AbortSignal.abort() }), (e) => e.code === ErrorCodes.ABORTED);
  assert.equal(t.sent.length, before);
});

test('a call times out after timeoutMs, or its connection default', async () => {
  const t = fakeTransport((m) => (m.method === 'system.info' ? info : null));
  const cb = await connect({ extension: async () => t, timeoutMs: 30 });
  const t0 = Date.now();
  await assert.rejects(cb.listCards(), (e) => e.code === ErrorCodes.CALL_TIMEOUT && /cards\.list within 30 ms/.test(e.reason));
  assert.ok(Date.now() - t0 >= 25);
  await assert.rejects(cb.listKeys('42', { timeoutMs: 10 }), (e) => e.code === ErrorCodes.CALL_TIMEOUT);
  // Node's AbortSignal.timeout does not keep the process alive; a browser's page does.
  const alive = setTimeout(() => {}, 1000);
  await assert.rejects(cb.call('keys.list', {}, { signal: AbortSignal.timeout(10), timeoutMs: 0 }),
    (e) => e.code === ErrorCodes.CALL_TIMEOUT && e.cause && e.cause.name === 'TimeoutError');
  clearTimeout(alive);
});

test('connect itself can be aborted', async () => {
  const t = fakeTransport(() => null); // never answers system.info
  let closed = false;
  t.close = () => { closed = true; };
  const ac = new AbortController();
  const p = connect({ extension: async () => t, signal: ac.signal });
  setTimeout(() => ac.abort(), 10);
  await assert.rejects(p, (e) => e.code === ErrorCodes.ABORTED);
  assert.ok(closed, 'the half-open connection was closed');
  await assert.rejects(connect({ extension: async () => t, signal: AbortSignal.abort() }), (e) => e.code === ErrorCodes.ABORTED);
});

test('two clients at once each get their own answers', async () => {
  // Each connect is its own transport with ids from 1: answers must not cross.
  const make = (tag) => fakeTransport((m) => (m.method === 'system.info' ? info : { result: { tag, id: m.id } }));
  const [a, b] = await Promise.all([connect({ extension: async () => make('a') }), connect({ extension: async () => make('b') })]);
  const got = await Promise.all([a.listCards(), b.listCards(), a.listKeys(), b.listKeys()]);
  assert.deepEqual(got.map((r) => r.tag), ['a', 'b', 'a', 'b']);
});
