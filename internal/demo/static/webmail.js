// The demo webmail: compose and sign with smime.sign, decrypt with
// smime.decrypt. Messages are RFC 5322 text, base64 on the wire. The
// portal's server checks each signed message and says who signed it and
// whether signature and certificate hold.
import { connect, toBase64, fromBase64 } from './sdk/cardbridge.js';
import { $, showError, clearError, groupSerial, pem, chooseCard, setPill, failure } from './common.js';

const state = { client: null, cfg: null, readers: [], card: null, certificate: null };
const utf8 = new TextEncoder();
const fromUtf8 = (b) => new TextDecoder().decode(b);


// A failure anywhere: see failure in common.js.
const failed = failure(() => attach());

// encodeHeader writes non-ASCII header text as an RFC 2047 encoded word.
function encodeHeader(s) {
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  return '=?utf-8?B?' + toBase64(utf8.encode(s)) + '?=';
}

async function start() {
  clearError($('notice'));
  state.cfg = state.cfg || await (await fetch('config.json')).json();
  try {
    state.client = await connect({ ports: state.cfg.ports });
  } catch (err) {
    setPill('cardbridge not found', false);
    showError($('notice'), err, start);
    return;
  }
  state.client.on('cards.changed', ({ readers }) => { state.readers = readers; useCard(state.card).catch((e) => failed(e, $('notice'))); });
  await attach();
}

async function attach() {
  clearError($('notice'));
  try {
    const { readers } = await state.client.subscribe();
    state.readers = readers;
    setPill(`cardbridge ${state.client.info.version} · ${state.client.transport}`, true);
    await useCard(state.card);
    await refreshInbox();
  } catch (err) {
    failed(err, $('notice'), attach);
  }
}

/** Shows the choice of card and takes the e-mail certificate of the one in use. */
async function useCard(want) {
  const before = state.card;
  state.card = chooseCard($('card-choice'), state.readers, want, state.cfg.card, (s) => useCard(s).catch((e) => failed(e, $('notice'))));
  if (state.card === before && state.certificate) return;
  state.certificate = null;
  $('send').disabled = true;
  $('ask').disabled = true;
  $('from').value = '';
  if (!state.card) { $('card-line').textContent = 'Insert your card into the reader.'; return; }
  const { certificates } = await state.client.listCertificates(state.card);
  const mine = certificates.find((c) => c.keyId && c.emails.length && !c.isCA);
  if (!mine) {
    $('card-line').textContent = `Card ${groupSerial(state.card)} has no e-mail certificate yet. Activate one on the certificate activation page first.`;
    return;
  }
  $('card-line').textContent = `Card ${groupSerial(state.card)}: ${mine.subject}, valid until ${new Date(mine.notAfter).toLocaleDateString()}.`;
  state.certificate = pem(mine.der);
  $('from').value = mine.emails[0];
  if (!$('to').value) $('to').value = mine.emails[0];
  $('send').disabled = false;
  $('ask').disabled = false;
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
    if (m.kind === 'encrypted') {
      tag.className = 'tag enc';
      tag.textContent = 'encrypted';
    } else {
      // The tag says what the check found, never just "signed".
      const ok = m.check && m.check.valid;
      tag.className = 'tag ' + (ok ? 'good' : 'bad');
      tag.textContent = ok ? `✓ signed by ${m.check.signer}` : '⚠ signature not valid';
      li.dataset.valid = String(!!ok);
    }
    left.append(tag, document.createTextNode(`${m.subject} — ${m.from}`));
    const btn = document.createElement('button');
    btn.className = 'primary';
    btn.textContent = m.kind === 'encrypted' ? 'Decrypt' : 'View';
    btn.onclick = () => openMessage(m, btn);
    li.append(left, btn);
    ul.append(li);
  }
}

function checkWords(c) {
  if (!c) return 'This message was not checked.';
  const who = c.signer ? `${c.signer}${c.email ? ' <' + c.email + '>' : ''}` : 'an unknown signer';
  if (c.valid) {
    return `✓ Signed by ${who}. The signature is valid and the certificate, issued by ${c.issuer}, ` +
      `is valid until ${new Date(c.notAfter).toLocaleDateString()}.`;
  }
  return `⚠ Do not trust this message: signed by ${who}, but ${c.problem}.`;
}

async function openMessage(m, btn) {
  clearError($('read-error'));
  const out = $('read-result');
  out.className = 'result';
  out.textContent = '';
  try {
    if (m.kind === 'encrypted') {
      btn.disabled = true;
      const text = fromUtf8(await state.client.smimeDecrypt({ card: state.card, message: fromBase64(m.raw) }));
      const body = text.split(/\r?\n\r?\n/).slice(1).join('\n\n');
      out.className = 'result ok';
      out.innerHTML = '<p>✓ Decrypted with the key on your card:</p><div class="opened" id="opened"></div>';
      $('opened').textContent = body;
    } else {
      out.className = 'result ' + (m.check && m.check.valid ? 'ok' : 'bad');
      out.innerHTML = '<p id="check"></p><div class="opened" id="opened"></div>';
      $('check').textContent = checkWords(m.check);
      $('opened').textContent = fromUtf8(fromBase64(m.raw));
    }
    out.scrollIntoView({ block: 'start' });
  } catch (err) {
    failed(err, $('read-error'), () => openMessage(m, btn));
  } finally {
    btn.disabled = false;
  }
}

async function send() {
  clearError($('send-error'));
  $('send').disabled = true;
  try {
    const msg = [
      `From: ${$('from').value}`, `To: ${$('to').value}`, `Subject: ${encodeHeader($('subject').value)}`,
      `Date: ${new Date().toUTCString()}`, 'Content-Type: text/plain; charset=utf-8', '', $('body').value.replace(/\r?\n/g, '\r\n'), '',
    ].join('\r\n');
    const signed = await state.client.smimeSign({ card: state.card, message: msg });
    const r = await fetch('api/mail/send', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: toBase64(signed) }) });
    if (!r.ok) throw new Error((await r.json()).error);
    $('send-result').className = 'result ok';
    $('send-result').textContent = '✓ Signed on your card and sent.';
    await refreshInbox();
  } catch (err) {
    failed(err, $('send-error'), send);
  } finally {
    $('send').disabled = !state.certificate;
  }
}

$('send').onclick = send;

$('ask').onclick = async () => {
  clearError($('send-error'));
  try {
    const r = await fetch('api/mail/encrypted', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ certificate: state.certificate }) });
    if (!r.ok) throw new Error((await r.json()).error);
    $('send-result').className = 'result ok';
    $('send-result').textContent = '✓ An encrypted message is in your inbox.';
    await refreshInbox();
  } catch (err) {
    failed(err, $('send-error'));
  }
};

start();
