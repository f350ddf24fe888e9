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

class ExtensionTransport {
  constructor() {
    this.kind = 'extension';
    this.onmessage = null;
    this.onclose = null;
    this._listener = (event) => {
      if (event.source !== window || event.origin !== window.location.origin) return;
      const d = event.data;
      if (!d || d.cardbridge !== 'extension') return;
      if (d.type === 'message' && this.onmessage) this.onmessage(d.message);
      else if ((d.type === 'closed' || d.type === 'error') && this.onclose) this.onclose(d);
    };
    window.addEventListener('message', this._listener);
  }
  send(msg) { window.postMessage({ cardbridge: 'page', type: 'message', message: msg }, window.location.origin); }
  close() {
    window.postMessage({ cardbridge: 'page', type: 'close' }, window.location.origin);
    window.removeEventListener('message', this._listener);
  }
}

// waitExtension posts a page message and waits for one of the extension's
// answer types.
function waitExtension(type, answers, timeoutMs) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { window.removeEventListener('message', on); resolve(null); }, timeoutMs);
    function on(event) {
      if (event.source !== window || event.origin !== window.location.origin) return;
      const d = event.data;
      if (!d || d.cardbridge !== 'extension' || !answers.includes(d.type)) return;
      clearTimeout(timer);
      window.removeEventListener('message', on);
      resolve(d);
    }
    window.addEventListener('message', on);
    window.postMessage({ cardbridge: 'page', type }, window.location.origin);
  });
}

/** Looks for the cardbridge extension; null when it is not installed. */
export async function tryExtension(options = {}) {
  if (typeof window === 'undefined' || !window.postMessage) return null;
  const pong = await waitExtension('ping', ['pong'], options.extensionAckMs || EXTENSION_ACK_MS);
  if (!pong) return null;
  const ready = await waitExtension('open', ['ready', 'error'], options.nativeHandshakeMs || NATIVE_HANDSHAKE_MS);
  if (!ready || ready.type === 'error') {
    throw new CardbridgeError(ErrorCodes.NATIVE_HOST_UNAVAILABLE, 'native_host_unavailable',
      { reason: (ready && ready.reason) || 'The cardbridge extension is installed, but the cardbridge app did not answer. Install or update the app.' });
  }
  if (ready.protocol !== PROTOCOL_VERSION) {
    throw new CardbridgeError(ErrorCodes.VERSION_MISMATCH, 'version_mismatch',
      { reason: `The cardbridge app speaks protocol ${ready.protocol}; this page needs ${PROTOCOL_VERSION}. Update cardbridge.` });
  }
  return new ExtensionTransport();
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
 */
export async function connect(options = {}) {
  const transports = options.transports || ['extension', 'websocket'];
  let transport = null;
  if (transports.includes('extension')) {
    transport = await (options.extension || tryExtension)(options);
  }
  if (!transport && transports.includes('websocket')) {
    transport = await tryWebSocket(options);
    if (!transport && options.launch !== false && typeof document !== 'undefined') {
      launchDaemon();
      const deadline = Date.now() + (options.launchTimeoutMs || 10000);
      while (!transport && Date.now() < deadline) {
        await sleep(500);
        transport = await tryWebSocket(options);
      }
    }
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
  const client = new Client(transport);
  const info = await client.call('system.info');
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
  constructor(transport) {
    this.transport = transport.kind;
    this._t = transport;
    this._next = 1;
    this._pending = new Map();
    this._listeners = new Map();
    transport.onmessage = (msg) => this._receive(msg);
    transport.onclose = (info) => {
      const code = info && info.code ? info.code : ErrorCodes.DISCONNECTED;
      const reason = (info && info.reason) || 'the connection to cardbridge closed';
      for (const { reject } of this._pending.values()) {
        reject(new CardbridgeError(code, code === ErrorCodes.DISCONNECTED ? 'disconnected' : 'native_host_unavailable', { reason }));
      }
      this._pending.clear();
    };
  }

  _receive(msg) {
    if (msg.id === undefined || msg.id === null) {
      if (msg.method) (this._listeners.get(msg.method) || []).forEach((fn) => fn(msg.params));
      return;
    }
    const p = this._pending.get(msg.id);
    if (!p) return;
    this._pending.delete(msg.id);
    if (msg.error) p.reject(new CardbridgeError(msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result);
  }

  /** Calls a protocol method; resolves with its result or rejects with a CardbridgeError. */
  call(method, params) {
    const id = this._next++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      const msg = { jsonrpc: '2.0', id, method };
      if (params !== undefined) msg.params = params;
      try {
        this._t.send(msg);
      } catch (e) {
        this._pending.delete(id);
        reject(new CardbridgeError(ErrorCodes.DISCONNECTED, 'disconnected', { reason: String(e) }));
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

  systemInfo() { return this.call('system.info'); }
  listCards() { return this.call('cards.list'); }
  listKeys(card) { return this.call('keys.list', card ? { card } : {}); }
  generateKey({ card, algorithm, label, csr } = {}) {
    return this.call('keys.generate', clean({ card, algorithm, label, csr }));
  }
  createCSR({ card, keyId, subject, emails, signatureAlgorithm }) {
    return this.call('csr.create', clean({ card, keyId, subject, emails, signatureAlgorithm }));
  }
  installCertificate({ card, certificate, chain }) {
    return this.call('certificates.install', clean({ card, certificate, chain }));
  }
  listCertificates(card) { return this.call('certificates.list', card ? { card } : {}); }
  /** Changes the PIN; cardbridge asks for the old and new PIN in its own dialogs. */
  changePIN(card) { return this.call('pin.change', card ? { card } : {}); }
  /** Sets a new PIN with the PUK; cardbridge asks for both in its own dialogs. */
  unblockPIN(card) { return this.call('pin.unblock', card ? { card } : {}); }
  /** Starts cards.changed notifications; resolves with the readers as they are now. */
  async subscribe(fn) {
    if (fn) this.on('cards.changed', fn);
    return this.call('events.subscribe');
  }
  deleteKey({ card, keyId }) { return this.call('keys.delete', clean({ card, keyId })); }
  importPKCS12({ card, pkcs12, label }) {
    return this.call('pkcs12.import', clean({ card, pkcs12: toBase64(pkcs12), label }));
  }
  /** Clear-signs an RFC 5322 message (string or bytes); resolves with the signed message as bytes. */
  async smimeSign({ card, keyId, message }) {
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    const res = await this.call('smime.sign', clean({ card, keyId, message: toBase64(bytes) }));
    return fromBase64(res.message);
  }
  /** Decrypts an application/pkcs7-mime message; resolves with the inner MIME entity as bytes. */
  async smimeDecrypt({ card, message }) {
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    const res = await this.call('smime.decrypt', clean({ card, message: toBase64(bytes) }));
    return fromBase64(res.message);
  }
  /**
   * Signs a digest, a batch of digests, or data (hashed by cardbridge).
   * format 'cms' returns CMS SignedData (detached unless attached is true);
   * give digestAlgorithm ('SHA-256', 'SHA-384', 'SHA-512') with digests.
   */
  sign({ card, keyId, algorithm, digest, digests, data, format, attached, digestAlgorithm }) {
    return this.call('sign', clean({
      card, keyId, algorithm, format, attached, digestAlgorithm,
      digest: digest && toBase64(digest),
      digests: digests && digests.map(toBase64),
      data: data && toBase64(typeof data === 'string' ? new TextEncoder().encode(data) : data),
    }));
  }
}

function clean(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') out[k] = v;
  return out;
}
