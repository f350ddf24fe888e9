// cardbridge portal SDK: talk to the cardbridge daemon from a web page.
//
//   import { connect } from './cardbridge.js';
//   const cb = await connect();
//   const { readers } = await cb.listCards();
//
// Transports, in order: the cardbridge browser extension (no local network
// permission needed, and the browser vouches for the page's origin), then
// the WebSocket on 127.0.0.1:47150-47154, then a cardbridge://start link to
// launch the app, retried for about 10 s.
//
// An ES module with no dependencies and nothing to build. The protocol is
// described in internal/protocol/PROTOCOL.md of the cardbridge repository.

/** Error codes of the protocol, plus the SDK's own (2xxx). */
export const ErrorCodes = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  USER_CANCELLED: 1001,
  PIN_INCORRECT: 1002,
  PIN_LOCKED: 1003,
  CARD_NOT_PRESENT: 1004,
  KEY_NOT_FOUND: 1005,
  UNSUPPORTED_ALGORITHM: 1006,
  ORIGIN_DENIED: 1007,
  BUSY: 1008,
  CARD_REMOVED: 1009,
  CERTIFICATE_MISMATCH: 1010,
  TIMEOUT: 1011,
  INTERNAL: 1099,
  // Raised by the SDK, never sent by the daemon.
  NOT_RUNNING: 2001,
  EXTENSION_UNAVAILABLE: 2002,
  NATIVE_HOST_UNAVAILABLE: 2003,
  VERSION_MISMATCH: 2004,
  LOCAL_NETWORK_DENIED: 2005,
  DISCONNECTED: 2006,
  ABORTED: 2007,
  CALL_TIMEOUT: 2008,
});

/** The protocol version this SDK speaks. */
export const PROTOCOL_VERSION = 1;

/** An error from cardbridge, with the protocol code and a readable reason. */
export class CardbridgeError extends Error {
  constructor(code, message, data) {
    super(data && data.reason ? `${message}: ${data.reason}` : message);
    this.name = 'CardbridgeError';
    this.code = code;
    this.data = data || {};
    this.reason = (data && data.reason) || message;
  }
}

const DEFAULT_PORTS = [47150, 47151, 47152, 47153, 47154];

/** Encodes bytes (Uint8Array, ArrayBuffer) as standard base64; strings pass as they are. */
export function toBase64(v) {
  if (typeof v === 'string') return v;
  const bytes = v instanceof Uint8Array ? v : new Uint8Array(v);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Decodes standard base64 into a Uint8Array. */
export function fromBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Hashes data with SHA-256/384/512 in the browser, so only the digest travels. */
export async function digest(algorithm, data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest(algorithm, bytes));
}

class WebSocketTransport {
  constructor(ws) {
    this.kind = 'websocket';
    this.ws = ws;
    this.onmessage = null;
    this.onclose = null;
    ws.onmessage = (ev) => this.onmessage && this.onmessage(JSON.parse(ev.data));
    ws.onclose = () => this.onclose && this.onclose();
  }
  send(msg) { this.ws.send(JSON.stringify(msg)); }
  close() { this.ws.close(); }
}

function openWebSocket(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      reject(e);
      return;
    }
    const timer = setTimeout(() => { ws.close(); reject(new Error('timeout')); }, timeoutMs);
    ws.onopen = () => { clearTimeout(timer); resolve(ws); };
    ws.onerror = () => { clearTimeout(timer); reject(new Error('refused')); };
  });
}

// Timeouts of the extension road, in the spirit of Web eID's: the content
// script answers a ping at once when the extension is installed; the native
// host and daemon get longer to start.
const EXTENSION_ACK_MS = 400;
const NATIVE_HANDSHAKE_MS = 8000;

// Every extension connection has a name of its own, so that several clients
// in one window (several SDK copies, or one SDK connected twice) each hear
// only their own answers. All of them share the window's message channel.
function connectionName() {
  if (typeof crypto !== 'undefined' && crypto.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

class ExtensionTransport {
  constructor(conn) {
    this.kind = 'extension';
    this.conn = conn;
    this.onmessage = null;
    this.onclose = null;
    this._listener = (event) => {
      if (event.source !== window || event.origin !== window.location.origin) return;
      const d = event.data;
      if (!d || d.cardbridge !== 'extension' || d.conn !== conn) return;
      if (d.type === 'message' && this.onmessage) this.onmessage(d.message);
      else if ((d.type === 'closed' || d.type === 'error') && this.onclose) this.onclose(d);
    };
    window.addEventListener('message', this._listener);
  }
  send(msg) { window.postMessage({ cardbridge: 'page', type: 'message', conn: this.conn, message: msg }, window.location.origin); }
  close() {
    window.postMessage({ cardbridge: 'page', type: 'close', conn: this.conn }, window.location.origin);
    window.removeEventListener('message', this._listener);
  }
}

// waitExtension posts a page message for connection conn and waits for one
// of the extension's answer types on it, or for the signal. With unnamed,
// an answer without a name counts too (an extension from before names).
function waitExtension(type, conn, answers, timeoutMs, signal, unnamed) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { done(); resolve(null); }, timeoutMs);
    const onAbort = () => { done(); reject(abortError(signal)); };
    function done() {
      clearTimeout(timer);
      window.removeEventListener('message', on);
      if (signal) signal.removeEventListener('abort', onAbort);
    }
    function on(event) {
      if (event.source !== window || event.origin !== window.location.origin) return;
      const d = event.data;
      if (!d || d.cardbridge !== 'extension' || !answers.includes(d.type)) return;
      if (d.conn !== conn && !(unnamed && d.conn === undefined)) return;
      done();
      resolve(d);
    }
    if (signal && signal.aborted) { onAbort(); return; }
    if (signal) signal.addEventListener('abort', onAbort);
    window.addEventListener('message', on);
    window.postMessage({ cardbridge: 'page', type, conn }, window.location.origin);
  });
}

/** Looks for the cardbridge extension; null when it is not installed. */
export async function tryExtension(options = {}) {
  if (typeof window === 'undefined' || !window.postMessage) return null;
  let conn = connectionName();
  const pong = await waitExtension('ping', conn, ['pong'], options.extensionAckMs || EXTENSION_ACK_MS, options.signal, true);
  if (!pong) return null;
  // An extension from before named connections answers without a name and
  // holds one connection per window: speak to it without names.
  if (pong.conn === undefined) conn = undefined;
  let ready;
  try {
    ready = await waitExtension('open', conn, ['ready', 'error'], options.nativeHandshakeMs || NATIVE_HANDSHAKE_MS, options.signal);
  } catch (e) {
    window.postMessage({ cardbridge: 'page', type: 'close', conn }, window.location.origin);
    throw e;
  }
  if (!ready || ready.type === 'error') {
    window.postMessage({ cardbridge: 'page', type: 'close', conn }, window.location.origin);
    throw new CardbridgeError(ErrorCodes.NATIVE_HOST_UNAVAILABLE, 'native_host_unavailable',
      { reason: (ready && ready.reason) || 'The cardbridge extension is installed, but the cardbridge app did not answer. Install or update the app.' });
  }
  if (ready.protocol !== PROTOCOL_VERSION) {
    window.postMessage({ cardbridge: 'page', type: 'close', conn }, window.location.origin);
    throw new CardbridgeError(ErrorCodes.VERSION_MISMATCH, 'version_mismatch',
      { reason: `The cardbridge app speaks protocol ${ready.protocol}; this page needs ${PROTOCOL_VERSION}. Update cardbridge.` });
  }
  return new ExtensionTransport(conn);
}

// abortError is the error of a call or connect whose AbortSignal fired. A
// signal from AbortSignal.timeout() counts as a timeout.
function abortError(signal) {
  const why = signal && signal.reason;
  const timedOut = why && why.name === 'TimeoutError';
  const err = new CardbridgeError(timedOut ? ErrorCodes.CALL_TIMEOUT : ErrorCodes.ABORTED, timedOut ? 'call_timeout' : 'aborted',
    { reason: timedOut ? 'cardbridge did not answer in time' : 'the page cancelled the call' + (why && why.message ? ': ' + why.message : '') });
  err.cause = why;
  return err;
}

async function localNetworkDenied() {
  // Chrome 142+ asks before public pages reach loopback. If the user said
  // no, say so, instead of reporting cardbridge as not running.
  try {
    if (!navigator.permissions) return false;
    for (const name of ['local-network-access', 'loopback-network']) {
      try {
        const st = await navigator.permissions.query({ name });
        if (st.state === 'denied') return true;
      } catch (_) { /* not a permission this browser knows */ }
    }
  } catch (_) { /* ignore */ }
  return false;
}

async function tryWebSocket(options) {
  const ports = options.ports || DEFAULT_PORTS;
  const host = options.host || '127.0.0.1';
  for (const port of ports) {
    try {
      const ws = await openWebSocket(`ws://${host}:${port}/v1`, options.connectTimeoutMs || 1500);
      return new WebSocketTransport(ws);
    } catch (_) { /* next port */ }
  }
  return null;
}

function launchDaemon() {
  // The browser hands the link to cardbridge, which starts and listens.
  const a = document.createElement('iframe');
  a.style.display = 'none';
  a.src = 'cardbridge://start';
  document.body.appendChild(a);
  setTimeout(() => a.remove(), 2000);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects to cardbridge: through the browser extension when it is
 * installed, else over the local WebSocket, else by opening a
 * cardbridge://start link and retrying for about launchTimeoutMs.
 * options.signal aborts connecting; options.timeoutMs becomes every call's
 * default timeout. Each connect() is a connection of its own.
 */
export async function connect(options = {}) {
  const { signal } = options;
  const check = () => { if (signal && signal.aborted) throw abortError(signal); };
  check();
  const transports = options.transports || ['extension', 'websocket'];
  let transport = null;
  if (transports.includes('extension')) {
    transport = await (options.extension || tryExtension)(options);
  }
  if (!transport && transports.includes('websocket')) {
    check();
    transport = await tryWebSocket(options);
    if (!transport && options.launch !== false && typeof document !== 'undefined') {
      launchDaemon();
      const deadline = Date.now() + (options.launchTimeoutMs || 10000);
      while (!transport && Date.now() < deadline) {
        await sleep(500);
        check();
        transport = await tryWebSocket(options);
      }
    }
  }
  if (transport && signal && signal.aborted) {
    transport.close();
    check();
  }
  if (!transport && transports.length === 1 && transports[0] === 'extension') {
    throw new CardbridgeError(ErrorCodes.EXTENSION_UNAVAILABLE, 'extension_unavailable',
      { reason: 'The cardbridge browser extension is not installed or not enabled in this browser.' });
  }
  if (!transport) {
    if (await localNetworkDenied()) {
      throw new CardbridgeError(ErrorCodes.LOCAL_NETWORK_DENIED, 'local_network_denied',
        { reason: 'The browser blocked this site from reaching cardbridge on this computer. Allow "local network access" for this site in the browser, or install the cardbridge extension.' });
    }
    throw new CardbridgeError(ErrorCodes.NOT_RUNNING, 'not_running',
      { reason: 'cardbridge is not running on this computer. Install it, or start it, then try again.' });
  }
  const client = new Client(transport, options);
  let info;
  try {
    info = await client.call('system.info', undefined, { signal });
  } catch (e) {
    client.close();
    throw e;
  }
  if (info.protocol !== PROTOCOL_VERSION) {
    client.close();
    throw new CardbridgeError(ErrorCodes.VERSION_MISMATCH, 'version_mismatch',
      { reason: `cardbridge speaks protocol ${info.protocol}; this page needs ${PROTOCOL_VERSION}. Update cardbridge.` });
  }
  client.info = info;
  return client;
}

/** A connection to cardbridge. */
export class Client {
  constructor(transport, options = {}) {
    this.transport = transport.kind;
    this._t = transport;
    this._next = 1;
    this._pending = new Map();
    this._listeners = new Map();
    this._timeoutMs = options.timeoutMs || 0;
    transport.onmessage = (msg) => this._receive(msg);
    transport.onclose = (info) => {
      const code = info && info.code ? info.code : ErrorCodes.DISCONNECTED;
      const reason = (info && info.reason) || 'the connection to cardbridge closed';
      const pending = [...this._pending.values()];
      this._pending.clear();
      for (const { reject } of pending) {
        reject(new CardbridgeError(code, code === ErrorCodes.DISCONNECTED ? 'disconnected' : 'native_host_unavailable', { reason }));
      }
    };
  }

  _receive(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.id === undefined || msg.id === null) {
      if (msg.method) (this._listeners.get(msg.method) || []).forEach((fn) => fn(msg.params));
      return;
    }
    const p = this._pending.get(msg.id);
    if (!p) return; // an answer to a call the page gave up on
    this._pending.delete(msg.id);
    if (msg.error) p.reject(new CardbridgeError(msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result);
  }

  /**
   * Calls a protocol method; resolves with its result or rejects with a
   * CardbridgeError. options.signal (an AbortSignal) and options.timeoutMs
   * stop waiting: the promise rejects with 2007 aborted or 2008
   * call_timeout, and a late answer is dropped. cardbridge itself is not
   * told, so a PIN dialog already open stays open until the user answers it
   * or close() ends the connection.
   */
  call(method, params, options = {}) {
    const signal = options.signal;
    const timeoutMs = options.timeoutMs !== undefined ? options.timeoutMs : this._timeoutMs;
    if (signal && signal.aborted) return Promise.reject(abortError(signal));
    const id = this._next++;
    return new Promise((resolve, reject) => {
      let timer = null;
      const settle = (fn) => (v) => {
        clearTimeout(timer);
        if (signal) signal.removeEventListener('abort', onAbort);
        this._pending.delete(id);
        fn(v);
      };
      const onAbort = () => settle(reject)(abortError(signal));
      this._pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      if (signal) signal.addEventListener('abort', onAbort);
      if (timeoutMs > 0) {
        timer = setTimeout(() => settle(reject)(new CardbridgeError(ErrorCodes.CALL_TIMEOUT, 'call_timeout',
          { reason: `cardbridge did not answer ${method} within ${timeoutMs} ms` })), timeoutMs);
      }
      const msg = { jsonrpc: '2.0', id, method };
      if (params !== undefined) msg.params = params;
      try {
        this._t.send(msg);
      } catch (e) {
        settle(reject)(new CardbridgeError(ErrorCodes.DISCONNECTED, 'disconnected', { reason: String(e) }));
      }
    });
  }

  /** Listens for a notification such as 'cards.changed'. */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    this._listeners.get(event).push(fn);
    return () => this._listeners.set(event, this._listeners.get(event).filter((f) => f !== fn));
  }

  close() { this._t.close(); }

  // Every method takes, last, the call options of call(): { signal, timeoutMs }.
  systemInfo(o) { return this.call('system.info', undefined, o); }
  listCards(o) { return this.call('cards.list', undefined, o); }
  listKeys(card, o) { return this.call('keys.list', card ? { card } : {}, o); }
  generateKey({ card, algorithm, label, csr } = {}, o) {
    return this.call('keys.generate', clean({ card, algorithm, label, csr }), o);
  }
  createCSR({ card, keyId, subject, emails, signatureAlgorithm }, o) {
    return this.call('csr.create', clean({ card, keyId, subject, emails, signatureAlgorithm }), o);
  }
  installCertificate({ card, certificate, chain }, o) {
    return this.call('certificates.install', clean({ card, certificate, chain }), o);
  }
  listCertificates(card, o) { return this.call('certificates.list', card ? { card } : {}, o); }
  /** Changes the PIN; cardbridge asks for the old and new PIN in its own dialogs. */
  changePIN(card, o) { return this.call('pin.change', card ? { card } : {}, o); }
  /** Sets a new PIN with the PUK; cardbridge asks for both in its own dialogs. */
  unblockPIN(card, o) { return this.call('pin.unblock', card ? { card } : {}, o); }
  /** Starts cards.changed notifications; resolves with the readers as they are now. */
  async subscribe(fn, o) {
    if (fn) this.on('cards.changed', fn);
    return this.call('events.subscribe', undefined, o);
  }
  deleteKey({ card, keyId }, o) { return this.call('keys.delete', clean({ card, keyId }), o); }
  importPKCS12({ card, pkcs12, label }, o) {
    return this.call('pkcs12.import', clean({ card, pkcs12: toBase64(pkcs12), label }), o);
  }
  /** Clear-signs an RFC 5322 message (string or bytes); resolves with the signed message as bytes. */
  async smimeSign({ card, keyId, message }, o) {
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    const res = await this.call('smime.sign', clean({ card, keyId, message: toBase64(bytes) }), o);
    return fromBase64(res.message);
  }
  /** Decrypts an application/pkcs7-mime message; resolves with the inner MIME entity as bytes. */
  async smimeDecrypt({ card, message }, o) {
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    const res = await this.call('smime.decrypt', clean({ card, message: toBase64(bytes) }), o);
    return fromBase64(res.message);
  }
  /**
   * Signs a digest, a batch of digests, or data (hashed by cardbridge).
   * format 'cms' returns CMS SignedData (detached unless attached is true);
   * give digestAlgorithm ('SHA-256', 'SHA-384', 'SHA-512') with digests.
   */
  sign({ card, keyId, algorithm, digest, digests, data, format, attached, digestAlgorithm }, o) {
    return this.call('sign', clean({
      card, keyId, algorithm, format, attached, digestAlgorithm,
      digest: digest && toBase64(digest),
      digests: digests && digests.map(toBase64),
      data: data && toBase64(typeof data === 'string' ? new TextEncoder().encode(data) : data),
    }), o);
  }
}

function clean(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') out[k] = v;
  return out;
}
