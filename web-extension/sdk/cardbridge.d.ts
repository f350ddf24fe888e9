// Type declarations for the cardbridge portal SDK (cardbridge.js).

export declare const PROTOCOL_VERSION: 1;

export declare const ErrorCodes: Readonly<{
  PARSE_ERROR: -32700; INVALID_REQUEST: -32600; METHOD_NOT_FOUND: -32601; INVALID_PARAMS: -32602;
  USER_CANCELLED: 1001; PIN_INCORRECT: 1002; PIN_LOCKED: 1003; CARD_NOT_PRESENT: 1004;
  KEY_NOT_FOUND: 1005; UNSUPPORTED_ALGORITHM: 1006; ORIGIN_DENIED: 1007; BUSY: 1008;
  CARD_REMOVED: 1009; CERTIFICATE_MISMATCH: 1010; TIMEOUT: 1011; INTERNAL: 1099;
  NOT_RUNNING: 2001; EXTENSION_UNAVAILABLE: 2002; NATIVE_HOST_UNAVAILABLE: 2003;
  VERSION_MISMATCH: 2004; LOCAL_NETWORK_DENIED: 2005; DISCONNECTED: 2006;
  ABORTED: 2007; CALL_TIMEOUT: 2008;
}>;

export declare class CardbridgeError extends Error {
  code: number;
  reason: string;
  data: { reason?: string; countLow?: boolean; finalTry?: boolean; [k: string]: unknown };
}

export type Bytes = Uint8Array | ArrayBuffer | string; // string = base64

export interface PINState {
  initialized: boolean; countLow: boolean; finalTry: boolean; locked: boolean;
  toBeChanged: boolean; minLength: number; maxLength: number; pinPad: boolean;
}
export interface Card {
  serial: string; label: string; manufacturer: string; model: string;
  pin: PINState; algorithms: string[];
}
export interface Reader { name: string; module: string; card: Card | null }
export interface Key {
  keyId: string; label: string; algorithm: string; publicKey: string; certificate: string | null;
}
export interface Subject {
  commonName?: string; emailAddress?: string; organization?: string; organizationalUnit?: string;
  locality?: string; stateOrProvince?: string; country?: string;
}
export type KeyAlgorithm = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'EC-P256' | 'EC-P384' | 'EC-P521';
export type SignAlgorithm =
  | 'RSA-PKCS1-SHA256' | 'RSA-PKCS1-SHA384' | 'RSA-PKCS1-SHA512'
  | 'RSA-PSS-SHA256' | 'RSA-PSS-SHA384' | 'RSA-PSS-SHA512'
  | 'ECDSA-SHA256' | 'ECDSA-SHA384' | 'ECDSA-SHA512';

export interface ConnectOptions {
  transports?: Array<'extension' | 'websocket'>;
  ports?: number[];
  host?: string;
  connectTimeoutMs?: number;
  launch?: boolean;
  launchTimeoutMs?: number;
  extension?: (options: ConnectOptions) => Promise<unknown>;
  extensionAckMs?: number;
  nativeHandshakeMs?: number;
  /** Aborts connecting (2007 aborted; 2008 for AbortSignal.timeout()). */
  signal?: AbortSignal;
  /** The default timeoutMs of every call on this connection; none when unset. */
  timeoutMs?: number;
}

/** Stops waiting for a call: it rejects with 2007 aborted or 2008 call_timeout. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export declare function tryExtension(options?: ConnectOptions): Promise<unknown | null>;

export declare function connect(options?: ConnectOptions): Promise<Client>;
export declare function toBase64(v: Bytes): string;
export declare function fromBase64(s: string): Uint8Array;
export declare function digest(algorithm: 'SHA-256' | 'SHA-384' | 'SHA-512', data: string | Uint8Array): Promise<Uint8Array>;

export declare class Client {
  readonly transport: 'extension' | 'websocket';
  info: { name: string; version: string; protocol: number; methods: string[] };
  call<T = unknown>(method: string, params?: object, options?: CallOptions): Promise<T>;
  on(event: 'cards.changed' | string, fn: (params: any) => void): () => void;
  close(): void;
  systemInfo(o?: CallOptions): Promise<{ name: string; version: string; protocol: number; methods: string[] }>;
  listCards(o?: CallOptions): Promise<{ readers: Reader[] }>;
  listKeys(card?: string, o?: CallOptions): Promise<{ keys: Key[] }>;
  generateKey(p: { card?: string; algorithm: KeyAlgorithm; label?: string; csr?: { subject: Subject; emails?: string[] } }, o?: CallOptions):
    Promise<{ keyId: string; algorithm: string; publicKey: string; csr?: string }>;
  createCSR(p: { card?: string; keyId: string; subject: Subject; emails?: string[]; signatureAlgorithm?: SignAlgorithm }, o?: CallOptions): Promise<{ csr: string }>;
  installCertificate(p: { card?: string; certificate: string; chain?: string[] }, o?: CallOptions):
    Promise<{ keyId: string; subject: string; notAfter: string; expired: boolean }>;
  listCertificates(card?: string, o?: CallOptions): Promise<{ certificates: unknown[] }>;
  deleteKey(p: { card?: string; keyId: string }, o?: CallOptions): Promise<object>;
  changePIN(card?: string, o?: CallOptions): Promise<object>;
  unblockPIN(card?: string, o?: CallOptions): Promise<object>;
  subscribe(fn?: (p: { readers: Reader[] }) => void, o?: CallOptions): Promise<{ readers: Reader[] }>;
  importPKCS12(p: { card?: string; pkcs12: Bytes; label?: string }, o?: CallOptions): Promise<object>;
  sign(p: {
    card?: string; keyId: string; algorithm?: SignAlgorithm;
    digest?: Bytes; digests?: Bytes[]; data?: Bytes | string; format?: 'raw' | 'cms'; attached?: boolean;
    digestAlgorithm?: 'SHA-256' | 'SHA-384' | 'SHA-512';
  }, o?: CallOptions): Promise<{ signature?: string; signatures?: string[] }>;
  smimeSign(p: { card?: string; keyId?: string; message: string | Uint8Array }, o?: CallOptions): Promise<Uint8Array>;
  smimeDecrypt(p: { card?: string; message: string | Uint8Array }, o?: CallOptions): Promise<Uint8Array>;
}
