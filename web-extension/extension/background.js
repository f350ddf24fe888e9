// cardbridge background: one native messaging port per page connection
// (a page or frame may hold several; each gets its own native host).
//
// The page's origin comes from the browser (port.sender), never from page
// data, and goes to the native host in the first message, so that consent,
// PIN dialogs and the audit log name the real site.
'use strict';
const api = typeof browser !== 'undefined' ? browser : chrome;
const NATIVE_HOST = 'app.cardbridge';
const HANDSHAKE_TIMEOUT_MS = 5000; // native host start plus daemon start

function senderOrigin(sender) {
  // An opaque origin ('null': a sandboxed frame or page) is refused rather
  // than replaced by the origin of its URL, which it does not own.
  if (sender.origin) return sender.origin === 'null' ? null : sender.origin;
  try {
    const o = new URL(sender.url).origin;
    return o === 'null' ? null : o;
  } catch (_) {
    return null;
  }
}

// Why the native port closed. Firefox puts it on port.error, Chromium on
// runtime.lastError; both mean much the same when the host never answered:
// it is not installed, or not registered for this browser.
function disconnectReason(native, ready) {
  const err = native.error || api.runtime.lastError;
  const why = err && err.message ? err.message : '';
  if (ready) return 'the cardbridge app closed' + (why ? ': ' + why : '');
  return 'the cardbridge app could not be started' + (why ? ': ' + why : '') +
    '. Install cardbridge and run "cardbridge install --user", then reload this page.';
}

api.runtime.onConnect.addListener((port) => {
  if (port.name !== 'cardbridge' || !port.sender || !port.sender.tab) {
    port.disconnect();
    return;
  }
  const origin = senderOrigin(port.sender);
  if (!origin) {
    port.disconnect();
    return;
  }
  let native;
  try {
    native = api.runtime.connectNative(NATIVE_HOST);
  } catch (e) {
    port.postMessage({ type: 'error', code: 2003, reason: 'the cardbridge app is not installed: ' + e.message });
    port.disconnect();
    return;
  }
  let ready = false;
  const queue = [];
  const timer = setTimeout(() => {
    if (!ready) {
      port.postMessage({ type: 'error', code: 2003, reason: 'the cardbridge app did not answer' });
      native.disconnect();
      port.disconnect();
    }
  }, HANDSHAKE_TIMEOUT_MS);

  native.onMessage.addListener((msg) => {
    if (msg && msg.cardbridge === 'hello') {
      ready = true;
      clearTimeout(timer);
      port.postMessage({ type: 'ready', version: msg.version, protocol: msg.protocol });
      while (queue.length) native.postMessage(queue.shift());
    } else if (msg && msg.cardbridge === 'error') {
      port.postMessage({ type: 'error', code: msg.code || 2003, reason: msg.reason });
    } else {
      port.postMessage({ type: 'message', message: msg });
    }
  });
  native.onDisconnect.addListener((p) => {
    clearTimeout(timer);
    port.postMessage({ type: 'error', code: 2003, reason: disconnectReason(p || native, ready) });
    port.disconnect();
  });
  port.onMessage.addListener((msg) => {
    if (!msg || msg.type !== 'message' || typeof msg.message !== 'object') return;
    if (ready) native.postMessage(msg.message);
    else queue.push(msg.message);
  });
  port.onDisconnect.addListener(() => {
    clearTimeout(timer);
    native.disconnect();
  });
  native.postMessage({ cardbridge: 'hello', origin, version: 1 });
});
