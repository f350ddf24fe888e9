// cardbridge content script: the page side of the extension.
//
// The page talks to it with window.postMessage; it answers only to the
// page's own origin and only to messages from this very window. It never
// tells the background which origin the page is: the browser does that.
(() => {
  'use strict';
  const api = typeof browser !== 'undefined' ? browser : chrome;
  const origin = window.location.origin;
  const local = /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/.test(origin);
  if (!window.isSecureContext && !local) return;

  let port = null;
  const reply = (msg) => window.postMessage(Object.assign({ cardbridge: 'extension' }, msg), origin);

  function openPort() {
    if (port) return;
    port = api.runtime.connect({ name: 'cardbridge' });
    port.onMessage.addListener((msg) => {
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'ready') reply({ type: 'ready', version: msg.version, protocol: msg.protocol });
      else if (msg.type === 'message') reply({ type: 'message', message: msg.message });
      else if (msg.type === 'error') reply({ type: 'error', code: msg.code, reason: msg.reason });
    });
    port.onDisconnect.addListener(() => {
      port = null;
      reply({ type: 'closed' });
    });
  }

  window.addEventListener('message', (event) => {
    // Only this window, never a frame or another window posting to us.
    if (event.source !== window || event.origin !== origin) return;
    const data = event.data;
    if (!data || data.cardbridge !== 'page' || typeof data.type !== 'string') return;
    switch (data.type) {
      case 'ping':
        reply({ type: 'pong', extension: api.runtime.getManifest().version });
        break;
      case 'open':
        openPort();
        break;
      case 'message':
        if (!port) openPort();
        // Only the JSON-RPC message goes on; anything else the page put
        // next to it (an "origin", say) stays behind.
        port.postMessage({ type: 'message', message: data.message });
        break;
      case 'close':
        if (port) port.disconnect();
        port = null;
        break;
    }
  });
})();
