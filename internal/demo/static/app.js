// The demo portal's page: the activation wizard, driven through the
// cardbridge portal SDK.
import { connect, ErrorCodes } from './sdk/cardbridge.js';

const $ = (id) => document.getElementById(id);
const state = { client: null, card: null, keyId: null, csr: null, certificate: null, chain: null, algorithm: null };

// Errors in words a person can act on.
const advice = {
  [ErrorCodes.USER_CANCELLED]: 'You cancelled the PIN window. Nothing was changed; try again when ready.',
  [ErrorCodes.PIN_INCORRECT]: 'The PIN was not accepted.',
  [ErrorCodes.PIN_LOCKED]: 'Your card\'s PIN is locked. Unblock it with your PUK in your card manager.',
  [ErrorCodes.CARD_NOT_PRESENT]: 'No card was found. Insert your card into the reader.',
  [ErrorCodes.CARD_REMOVED]: 'The card was removed during the operation. Insert it and try again.',
  [ErrorCodes.KEY_NOT_FOUND]: 'The key is no longer on the card.',
  [ErrorCodes.UNSUPPORTED_ALGORITHM]: 'Your card cannot do this algorithm. Choose another.',
  [ErrorCodes.ORIGIN_DENIED]: 'You did not allow this site to use your card.',
  [ErrorCodes.BUSY]: 'A cardbridge window for this site is already open. Finish it first.',
  [ErrorCodes.CERTIFICATE_MISMATCH]: 'This certificate does not belong to any key on the card.',
  [ErrorCodes.TIMEOUT]: 'The PIN window closed because nobody answered.',
  [ErrorCodes.NOT_RUNNING]: 'cardbridge is not running on this computer. Start it and reload this page.',
};

function explain(err) {
  let text = advice[err.code] || 'Something went wrong.';
  if (err.code === ErrorCodes.PIN_INCORRECT) {
    if (err.data.finalTry) text += ' Careful: one more wrong PIN locks the card.';
    else if (err.data.countLow) text += ' Few tries are left.';
  }
  if (err.reason && !advice[err.code]) text += ' ' + err.reason;
  return text;
}

function showError(err) {
  const box = $('error');
  box.textContent = err.code ? explain(err) : String(err.message || err);
  box.hidden = false;
}

function clearError() { $('error').hidden = true; }

function step(n, s) { $('step' + n).dataset.state = s; }

function groupSerial(s) { return s.length > 8 ? s.replace(/(.{4})(?=.)/g, '$1 ') : s; }

async function run(button, fn) {
  clearError();
  button.disabled = true;
  const label = button.textContent;
  button.textContent = 'Waiting for cardbridge…';
  try {
    await fn();
  } catch (err) {
    showError(err);
    button.disabled = false;
  } finally {
    button.textContent = label;
  }
}

function renderCard(readers) {
  const withCard = readers.filter((r) => r.card);
  const body = $('card-body');
  if (withCard.length === 0) {
    state.card = null;
    body.innerHTML = readers.length ? 'Insert your card into the reader.' : 'No card reader found.';
    return;
  }
  const r = withCard[0];
  state.card = r.card;
  const pin = r.card.pin.locked ? 'locked' : r.card.pin.finalTry ? 'one try left' : r.card.pin.countLow ? 'few tries left' : 'ready';
  body.innerHTML = '';
  const dl = document.createElement('dl');
  for (const [k, v, cls] of [['Reader', r.name], ['Card number', groupSerial(r.card.serial), 'serial'], ['Label', r.card.label],
    ['Made by', `${r.card.manufacturer} ${r.card.model}`], ['PIN', `${pin} (${r.card.pin.minLength}–${r.card.pin.maxLength} characters)`]]) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v; if (cls) dd.className = cls;
    dl.append(dt, dd);
  }
  body.append(dl);
  const sel = $('algorithm');
  if (!sel.options.length) {
    for (const a of r.card.algorithms) {
      const o = document.createElement('option');
      o.value = a; o.textContent = a.replace('-', ' ');
      sel.append(o);
    }
  }
  $('generate').disabled = !!state.keyId;
}

async function refresh() {
  const { readers } = await state.client.listCards();
  renderCard(readers);
}

async function start() {
  const cfg = await (await fetch('config.json')).json();
  try {
    state.client = await connect({ ports: cfg.ports });
    $('conn').textContent = `cardbridge ${state.client.info.version} · ${state.client.transport}`;
    $('conn').className = 'pill pill-ok';
    await refresh();
  } catch (err) {
    $('conn').textContent = 'cardbridge not found';
    $('conn').className = 'pill pill-bad';
    showError(err);
  }
}

$('refresh').onclick = () => refresh().catch(showError);

$('generate').onclick = () => run($('generate'), async () => {
  state.algorithm = $('algorithm').value;
  const res = await state.client.generateKey({ card: state.card.serial, algorithm: state.algorithm, label: 'Demo CA S/MIME' });
  state.keyId = res.keyId;
  $('gen-result').className = 'result ok';
  $('gen-result').textContent = `✓ ${res.algorithm} key pair created on card ${groupSerial(state.card.serial)} (key id ${res.keyId.slice(0, 16)}…).`;
  step(1, 'done'); step(2, 'done'); step(3, 'active');
  $('algorithm').disabled = true;
  $('request').disabled = false;
});

$('request').onclick = () => run($('request'), async () => {
  const email = $('email').value.trim();
  const subject = {
    commonName: $('cn').value.trim() || undefined, emailAddress: email || undefined,
    organization: $('org').value.trim() || undefined, locality: $('locality').value.trim() || undefined,
    stateOrProvince: $('state').value.trim() || undefined, country: $('country').value.trim().toUpperCase() || undefined,
  };
  const res = await state.client.createCSR({ card: state.card.serial, keyId: state.keyId, subject, emails: email ? [email] : [] });
  state.csr = res.csr;
  $('csr-result').className = 'result ok';
  $('csr-result').innerHTML = '✓ Certificate request signed on your card.<pre></pre>';
  $('csr-result').querySelector('pre').textContent = res.csr;
  step(3, 'done'); step(4, 'active');
  $('issue').disabled = false;
});

$('issue').onclick = () => run($('issue'), async () => {
  const r = await fetch('api/issue', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ csr: state.csr }) });
  const body = await r.json();
  if (!r.ok) throw new Error('The CA refused the request: ' + body.error);
  state.certificate = body.certificate;
  state.chain = body.chain;
  $('issue-result').className = 'result ok';
  $('issue-result').textContent = `✓ Issued to ${body.subject}, valid until ${new Date(body.notAfter).toLocaleDateString()}.`;
  step(4, 'done'); step(5, 'active');
  $('install').disabled = false;
});

$('install').onclick = () => run($('install'), async () => {
  const res = await state.client.installCertificate({ card: state.card.serial, certificate: state.certificate, chain: state.chain });
  $('install-result').className = 'result ok';
  $('install-result').textContent = `✓ Certificate and CA chain stored on your card next to key ${res.keyId.slice(0, 16)}….`;
  step(5, 'done'); step(6, 'active');
  $('sign').disabled = false;
});

$('sign').onclick = () => run($('sign'), async () => {
  const message = $('message').value;
  const algorithm = state.algorithm.startsWith('RSA') ? 'RSA-PKCS1-SHA256' : 'ECDSA-SHA256';
  const { signature } = await state.client.sign({ card: state.card.serial, keyId: state.keyId, algorithm, data: message });
  const r = await fetch('api/verify', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ certificate: state.certificate, message, signature, algorithm }) });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error);
  $('sign-result').className = 'result ok';
  $('sign-result').textContent = `✓ The portal verified your signature: signed by ${body.subject}. Your card is ready for S/MIME.`;
  step(6, 'done');
  $('sign').disabled = false;
});

start();
