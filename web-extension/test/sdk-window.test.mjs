// The SDK's extension road against the real content script, in a window
// of Node's own (EventTarget + postMessage) with a runtime whose ports
// answer like background, native host and daemon together. The browser
// tests run the same road in Chromium and Firefox; these check the corners
// quickly: names of connections, the bound, and an extension from before
// names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { setMaxListeners } from 'node:events';
import { extensionDir } from './helpers.mjs';
import { connect, ErrorCodes } from '../sdk/cardbridge.js';

const ORIGIN = 'https://portal.example';

function fakeWindow() {
  const w = new EventTarget();
  setMaxListeners(200, w); // one listener per client and pending handshake, as in a page
  w.location = { origin: ORIGIN };
  w.isSecureContext = true;
  w.postMessage = (data, target) => {
    assert.equal(target, ORIGIN, 'messages go to the page origin only');
    const copy = structuredClone(data);
    setTimeout(() => {
      const ev = new Event('message');
      Object.defineProperties(ev, { data: { value: copy }, origin: { value: ORIGIN }, source: { value: w } });
      w.dispatchEvent(ev);
    }, 0);
  };
  return w;
}

// runtime stands in for the extension's background: every port is its own
// native host; answers name the port, so a crossed answer shows.
function runtime() {
  const ports = [];
  return {
    ports,
    getManifest: () => ({ version: '0.1.0' }),
    connect() {
      const n = ports.length;
      const on = { message: [], disconnect: [] };
      const emit = (m) => setTimeout(() => on.message.forEach((f) => f(m)), 1);
      const port = {
        open: true,
        onMessage: { addListener: (f) => on.message.push(f) },
        onDisconnect: { addListener: (f) => on.disconnect.push(f) },
        postMessage(m) {
          const r = m.message.method === 'system.info' ? { name: 'cardbridge', protocol: 1 } : { port: n, params: m.message.params };
          emit({ type: 'message', message: { jsonrpc: '2.0', id: m.message.id, result: r } });
        },
        disconnect() { port.open = false; },
      };
      ports.push(port);
      emit({ type: 'ready', version: 'test', protocol: 1 });
      return port;
    },
  };
}

function withContentScript() {
  const window = fakeWindow();
  const rt = runtime();
  vm.runInNewContext(readFileSync(path.join(extensionDir, 'content.js'), 'utf8'), { window, chrome: { runtime: rt } });
  globalThis.window = window;
  return rt;
}

test('clients in one window each hear only their own answers', async () => {
  const rt = withContentScript();
  const clients = await Promise.all([1, 2, 3].map(() => connect({ transports: ['extension'] })));
  assert.equal(rt.ports.length, 3, 'one port per client');
  const answers = await Promise.all(clients.flatMap((c, i) => [0, 1, 2].map((r) => c.call('echo', { client: i, round: r }))));
  const seen = answers.map((a) => `${a.params.client}:${a.port}`);
  // Each client kept to one port, and no two clients shared one.
  const portOf = new Map(seen.map((s) => s.split(':')));
  assert.equal(new Set(portOf.values()).size, 3, seen.join(' '));
  for (const s of seen) assert.equal(portOf.get(s.split(':')[0]), s.split(':')[1], seen.join(' '));
  clients[0].close();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(rt.ports.map((p) => p.open), [false, true, true], 'close() ends only its own connection');
  assert.equal((await clients[1].call('echo', {})).port !== undefined, true);
});

test('a 33rd connection in one window is refused with a reason', async () => {
  withContentScript();
  const clients = await Promise.all(Array.from({ length: 32 }, () => connect({ transports: ['extension'] })));
  await assert.rejects(connect({ transports: ['extension'] }),
    (e) => e.code === ErrorCodes.NATIVE_HOST_UNAVAILABLE && /already has 32 connections/.test(e.reason));
  clients[5].close();
  await new Promise((r) => setTimeout(r, 10));
  const again = await connect({ transports: ['extension'] });
  assert.equal(again.transport, 'extension');
});

test('an extension from before connection names still serves one client', async () => {
  const window = fakeWindow();
  globalThis.window = window;
  // What the content script of version 0.1.0 answered: no conn anywhere.
  window.addEventListener('message', (ev) => {
    const d = ev.data;
    if (!d || d.cardbridge !== 'page') return;
    const reply = (m) => window.postMessage({ cardbridge: 'extension', ...m }, ORIGIN);
    if (d.type === 'ping') reply({ type: 'pong', extension: '0.1.0' });
    if (d.type === 'open') reply({ type: 'ready', version: 'old', protocol: 1 });
    if (d.type === 'message') reply({ type: 'message', message: { jsonrpc: '2.0', id: d.message.id, result: { name: 'cardbridge', protocol: 1 } } });
  });
  const c = await connect({ transports: ['extension'] });
  assert.equal(c.transport, 'extension');
  assert.equal((await c.systemInfo()).name, 'cardbridge');
});
