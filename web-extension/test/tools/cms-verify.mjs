// cms-verify.mjs checks a signature cardbridge made, with pkijs as the judge.
// The Go tests (internal/server/verifiers_test.go) run it.
//
//   node cms-verify.mjs cms SIG.der ROOT.pem [CONTENT]
//     SignedData, attached or (with CONTENT) detached; the signer's chain
//     must lead to ROOT and the signature must be valid now.
//   node cms-verify.mjs raw SIG CERT.pem DATA ALG
//     a bare signature over DATA with CERT's key, ALG as cardbridge names
//     it (RSA-PKCS1-SHA256, RSA-PSS-SHA384, ECDSA-SHA512, ...).
//
// It prints "ok" and exits 0, or prints why and exits 1.
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto }));

function buf(b) {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

function der(path) {
  const raw = readFileSync(path);
  const text = raw.toString('latin1');
  if (!text.startsWith('-----BEGIN')) return buf(raw);
  return buf(Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

async function verifyCMS(sigPath, rootPath, contentPath) {
  const ci = pkijs.ContentInfo.fromBER(der(sigPath));
  if (ci.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new Error(`content type ${ci.contentType}`);
  const sd = new pkijs.SignedData({ schema: ci.content });
  const opts = { signer: 0, trustedCerts: [pkijs.Certificate.fromBER(der(rootPath))], checkChain: true, extendedMode: true, checkDate: new Date() };
  if (contentPath) opts.data = buf(readFileSync(contentPath));
  const res = await sd.verify(opts);
  if (!res.signatureVerified) throw new Error(`signature not verified: ${res.message ?? JSON.stringify(res.code)}`);
}

const hashOIDs = { SHA256: '2.16.840.1.101.3.4.2.1', SHA384: '2.16.840.1.101.3.4.2.2', SHA512: '2.16.840.1.101.3.4.2.3' };
const rsaOIDs = { SHA256: '1.2.840.113549.1.1.11', SHA384: '1.2.840.113549.1.1.12', SHA512: '1.2.840.113549.1.1.13' };
const ecdsaOIDs = { SHA256: '1.2.840.10045.4.3.2', SHA384: '1.2.840.10045.4.3.3', SHA512: '1.2.840.10045.4.3.4' };

function signatureAlgorithm(alg) {
  const hash = alg.split('-').pop();
  if (alg.startsWith('ECDSA-')) return new pkijs.AlgorithmIdentifier({ algorithmId: ecdsaOIDs[hash] });
  if (alg.startsWith('RSA-PKCS1-')) return new pkijs.AlgorithmIdentifier({ algorithmId: rsaOIDs[hash], algorithmParams: new asn1js.Null() });
  if (alg.startsWith('RSA-PSS-')) {
    const hashAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: hashOIDs[hash], algorithmParams: new asn1js.Null() });
    const params = new pkijs.RSASSAPSSParams({
      hashAlgorithm,
      maskGenAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.8', algorithmParams: hashAlgorithm.toSchema() }),
      saltLength: { SHA256: 32, SHA384: 48, SHA512: 64 }[hash],
    });
    return new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.10', algorithmParams: params.toSchema() });
  }
  throw new Error(`algorithm ${alg}`);
}

async function verifyRaw(sigPath, certPath, dataPath, alg) {
  const cert = pkijs.Certificate.fromBER(der(certPath));
  const sig = new asn1js.BitString({ valueHex: buf(readFileSync(sigPath)) });
  const ok = await pkijs.getEngine().crypto.verifyWithPublicKey(buf(readFileSync(dataPath)), sig, cert.subjectPublicKeyInfo, signatureAlgorithm(alg));
  if (!ok) throw new Error('signature not verified');
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === 'cms') await verifyCMS(...args);
  else if (mode === 'raw') await verifyRaw(...args);
  else throw new Error(`mode ${mode}`);
  console.log('ok');
} catch (e) {
  console.log(`pkijs: ${e?.message ?? e}`);
  process.exit(1);
}
