// cardbridge content script: the page side of the extension.
//
// The page talks to it with window.postMessage; it answers only to the
// page's own origin and only to messages from this very window. It never
// tells the background which origin the page is: the browser does that.
//
// A page (or each of its frames: this script runs in every frame, in the
// frame's own window) may hold several connections at once, one per SDK
// client. Each names itself with a `conn` string the SDK picks at random;
// every answer carries it back, so clients never see each other's answers.
// A message without `conn` uses the unnamed connection '' (SDKs before
// connections had names).
(() => {
  'use strict';
  const api = typeof browser !== 'undefined' ? browser : chrome;
  const origin = window.location.origin;
  // An opaque origin (sandboxed frame or page) has nobody to answer to and
  // must not borrow the origin of the URL it was loaded from.
  if (origin === 'null') return;
  const local = /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/.test(origin);
  if (!window.isSecureContext && !local) return;

  // Each open connection costs a native host process and a daemon session,
  // so a page cannot open without bound.
  const MAX_CONNECTIONS = 32;
  const ports = new Map(); // conn → runtime.Port
  const reply = (conn, msg) => window.postMessage(Object.assign({ cardbridge: 'extension', conn }, msg), origin);

  function openPort(conn) {
    if (ports.has(conn)) ports.get(conn).disconnect();
    ports.delete(conn);
    if (ports.size >= MAX_CONNECTIONS) {
      reply(conn, { type: 'error', code: 2003, reason: `this page already has ${MAX_CONNECTIONS} connections to cardbridge open; close one first` });
      return null;
    }
    const port = api.runtime.connect({ name: 'cardbridge' });
    ports.set(conn, port);
    port.onMessage.addListener((msg) => {
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'ready') reply(conn, { type: 'ready', version: msg.version, protocol: msg.protocol });
      else if (msg.type === 'message') reply(conn, { type: 'message', message: msg.message });
      else if (msg.type === 'error') reply(conn, { type: 'error', code: msg.code, reason: msg.reason });
    });
    port.onDisconnect.addListener(() => {
      // A later open under the same name may already have replaced us.
      if (ports.get(conn) !== port) return;
      ports.delete(conn);
      reply(conn, { type: 'closed' });
    });
    return port;
  }

  window.addEventListener('message', (event) => {
    // Only this window, never a frame or another window posting to us.
    if (event.source !== window || event.origin !== origin) return;
    const data = event.data;
    if (!data || data.cardbridge !== 'page' || typeof data.type !== 'string') return;
    if (data.conn !== undefined && (typeof data.conn !== 'string' || data.conn.length > 64)) return;
    const conn = data.conn || '';
    switch (data.type) {
      case 'ping':
        reply(conn, { type: 'pong', extension: api.runtime.getManifest().version });
        break;
      case 'open':
        openPort(conn);
        break;
      case 'message': {
        const port = ports.get(conn) || openPort(conn);
        // Only the JSON-RPC message goes on; anything else the page put
        // next to it (an "origin", say) stays behind.
        if (port) port.postMessage({ type: 'message', message: data.message });
        break;
      }
      case 'close':
        if (ports.has(conn)) ports.get(conn).disconnect();
        ports.delete(conn);
        break;
    }
  });
})();
