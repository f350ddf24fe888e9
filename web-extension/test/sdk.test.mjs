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
