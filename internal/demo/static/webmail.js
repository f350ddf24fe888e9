// The demo webmail: compose and sign with smime.sign, decrypt with
// smime.decrypt. Messages are RFC 5322 text, base64 on the wire.
import { connect, toBase64, fromBase64, ErrorCodes } from './sdk/cardbridge.js';

const $ = (id) => document.getElementById(id);
const state = { client: null, card: null, certificate: null };
const utf8 = new TextEncoder();
const fromUtf8 = (b) => new TextDecoder().decode(b);

function showError(err) {
  const box = $('error');
  const words = {
    [ErrorCodes.USER_CANCELLED]: 'You cancelled the PIN window; nothing was signed or decrypted.',
    [ErrorCodes.KEY_NOT_FOUND]: 'No key on your card fits this message.',
    [ErrorCodes.PIN_INCORRECT]: 'The PIN was not accepted.',
    [ErrorCodes.NOT_RUNNING]: 'cardbridge is not running on this computer.',
  };
  box.textContent = (err.code && words[err.code]) || err.reason || String(err.message || err);
  box.hidden = false;
}

function pem(derB64) {
  return '-----BEGIN CERTIFICATE-----\n' + derB64.match(/.{1,64}/g).join('\n') + '\n-----END CERTIFICATE-----\n';
}

// encodeHeader writes non-ASCII header text as an RFC 2047 encoded word.
function encodeHeader(s) {
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  return '=?utf-8?B?' + toBase64(utf8.encode(s)) + '?=';
}

async function start() {
  try {
    const cfg = await (await fetch('config.json')).json();
    state.client = await connect({ ports: cfg.ports });
    $('conn').textContent = `cardbridge ${state.client.info.version} · ${state.client.transport}`;
    $('conn').className = 'pill pill-ok';
    const { readers } = await state.client.listCards();
    const r = readers.find((x) => x.card);
    if (!r) throw new Error('Insert your card.');
    state.card = r.card;
    const { certificates } = await state.client.listCertificates(r.card.serial);
    const mine = certificates.find((c) => c.keyId && c.emails.length);
    if (!mine) throw new Error('Your card has no e-mail certificate yet. Activate one on the certificate activation page first.');
    state.certificate = pem(mine.der);
    $('from').value = mine.emails[0];
    $('to').value = mine.emails[0];
    $('send').disabled = false;
    $('ask').disabled = false;
    await refreshInbox();
  } catch (err) {
    if (!state.client) { $('conn').textContent = 'cardbridge not found'; $('conn').className = 'pill pill-bad'; }
    showError(err);
  }
}

async function refreshInbox() {
  const { messages } = await (await fetch('api/mail/inbox')).json();
  const ul = $('inbox');
  ul.innerHTML = '';
  if (!messages.length) { ul.innerHTML = '<li class="muted">No messages yet.</li>'; return; }
  for (const m of messages) {
    const li = document.createElement('li');
    li.dataset.kind = m.kind;
    const left = document.createElement('span');
    const tag = document.createElement('span');
    tag.className = 'tag' + (m.kind === 'encrypted' ? ' enc' : '');
    tag.textContent = m.kind === 'encrypted' ? 'encrypted' : '✓ signed';
    left.append(tag, document.createTextNode(`${m.subject} — ${m.from}`));
    const btn = document.createElement('button');
    btn.className = 'primary';
    btn.textContent = m.kind === 'encrypted' ? 'Decrypt' : 'View';
    btn.onclick = () => openMessage(m).catch(showError);
    li.append(left, btn);
    ul.append(li);
  }
}

async function openMessage(m) {
  $('error').hidden = true;
  const out = $('read-result');
  out.className = 'result';
  let text;
  if (m.kind === 'encrypted') {
    text = fromUtf8(await state.client.smimeDecrypt({ card: state.card.serial, message: fromBase64(m.raw) }));
    const body = text.split(/\r?\n\r?\n/).slice(1).join('\n\n');
    out.className = 'result ok';
    out.innerHTML = '<p>✓ Decrypted with the key on your card:</p><div class="opened" id="opened"></div>';
    $('opened').textContent = body;
  } else {
    text = fromUtf8(fromBase64(m.raw));
    out.innerHTML = '<p>Signed message as sent (multipart/signed):</p><div class="opened" id="opened"></div>';
    $('opened').textContent = text;
  }
}

$('send').onclick = async () => {
  $('error').hidden = true;
  $('send').disabled = true;
  try {
    const msg = [
      `From: ${$('from').value}`, `To: ${$('to').value}`, `Subject: ${encodeHeader($('subject').value)}`,
      `Date: ${new Date().toUTCString()}`, 'Content-Type: text/plain; charset=utf-8', '', $('body').value.replace(/\r?\n/g, '\r\n'), '',
    ].join('\r\n');
    const signed = await state.client.smimeSign({ card: state.card.serial, message: msg });
    const r = await fetch('api/mail/send', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: toBase64(signed) }) });
    if (!r.ok) throw new Error((await r.json()).error);
    $('send-result').className = 'result ok';
    $('send-result').textContent = '✓ Signed on your card and sent.';
    await refreshInbox();
  } catch (err) { showError(err); } finally { $('send').disabled = false; }
};

$('ask').onclick = async () => {
  $('error').hidden = true;
  try {
    const r = await fetch('api/mail/encrypted', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ certificate: state.certificate }) });
    if (!r.ok) throw new Error((await r.json()).error);
    $('send-result').className = 'result ok';
    $('send-result').textContent = '✓ An encrypted message is in your inbox.';
    await refreshInbox();
  } catch (err) { showError(err); }
};

start();
