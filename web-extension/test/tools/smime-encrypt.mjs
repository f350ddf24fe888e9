// smime-encrypt.mjs CERT.pem SPEC IN OUT: pkijs writes a CMS EnvelopedData
// of IN for the holder of CERT into OUT (BER, the encrypted content in
// 1024-byte chunks, as pkijs splits it). SPEC is KEY:CIPHER:BITS, where KEY
// is oaep-sha1, oaep-sha256, oaep-sha512 (RSA) or ecdh-sha256, ecdh-sha384,
// ecdh-sha512 (EC: the X9.63 KDF hash; pkijs always adds 64 bytes of UKM).
// testdata/smime/make.sh runs it to build the decryption corpus.
import { readFileSync, writeFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto }));

export function pemToDER(pem) {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const buf = Buffer.from(b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

const [certPath, spec, inPath, outPath] = process.argv.slice(2);
const [key, cipher, bits] = spec.split(':');
const [kind, hash] = key.split('-');
const hashName = hash.replace('sha', 'SHA-');
const cert = pkijs.Certificate.fromBER(pemToDER(readFileSync(certPath, 'utf8')));
const env = new pkijs.EnvelopedData();
env.addRecipientByCertificate(cert, kind === 'oaep' ? { oaepHashAlgorithm: hashName } : { kdfAlgorithm: hashName });
const plain = readFileSync(inPath);
await env.encrypt({ name: cipher, length: Number(bits) }, plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength));
const ci = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.ENVELOPED_DATA, content: env.toSchema() });
writeFileSync(outPath, Buffer.from(ci.toSchema().toBER(false)));
void asn1js;
