// The demo portal's page: the activation wizard, driven through the
// cardbridge portal SDK. The activation lives on the portal's server; the
// page keeps only its id, in the address bar, so a reload resumes it. The
// key on the card that belongs to it is found by asking cardbridge
// (keys.list) for the label the page gave it.
import { connect } from './sdk/cardbridge.js';
import { $, showError, clearError, groupSerial, chooseCard, pinWords, setPill, failure } from './common.js';
import { showObjects } from './objects.js';

const state = { client: null, cfg: null, readers: [], card: null, activation: null, key: null };
const box = (n) => $('step' + n).querySelector('.step-error');
const buttons = { 1: ['details'], 2: ['generate', 'rerequest'], 3: ['install'], 4: ['sign'] };

// Every step gets an error box of its own, below its button.
for (const n of [1, 2, 3, 4]) {
  const div = document.createElement('div');
  div.className = 'step-error';
  div.setAttribute('role', 'alert');
  div.tabIndex = -1;
  div.hidden = true;
  div.innerHTML = '<p class="msg"></p><button class="retry"></button>';
  $('step' + n).append(div);
}

/** Makes step n the one to do: those before are done, those after wait. */
function setStep(n) {
  for (const i of [1, 2, 3, 4]) {
    $('step' + i).dataset.state = i < n ? 'done' : i === n ? 'active' : 'todo';
    for (const id of buttons[i]) $(id).disabled = i !== n && !(i === 4 && n > 4);
  }
  $('algorithm').disabled = n !== 2 || !!state.key;
  $('generate').hidden = !!state.key && n === 2;
  $('rerequest').hidden = !(state.key && n === 2);
}


// A failure anywhere: see failure in common.js.
const failed = failure(() => attach());

/** Runs a step's action with its button showing that cardbridge works. */
async function run(n, button, fn, waiting = 'Answer the cardbridge window…') {
  clearError(box(n));
  const label = button.textContent;
  button.disabled = true;
  button.textContent = waiting;
  try {
    await fn();
  } catch (err) {
    failed(err, box(n), () => run(n, button, fn, waiting));
    button.disabled = false;
  } finally {
    button.textContent = label;
  }
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
  state.client.on('cards.changed', ({ readers }) => { state.readers = readers; renderCards(); });
  await attach();
}

/** Asks for the cards (which asks the user's consent the first time) and resumes the activation. */
async function attach() {
  clearError($('notice'));
  try {
    const { readers } = await state.client.subscribe();
    state.readers = readers;
    setPill(`cardbridge ${state.client.info.version} · ${state.client.transport}`, true);
    renderCards();
    await resume();
  } catch (err) {
    failed(err, $('notice'), attach);
  }
}

function renderCards() {
  const before = state.card;
  state.card = chooseCard($('card-choice'), state.readers, state.card, state.cfg.card, (serial) => {
    state.card = serial;
    renderCards();
    resume().catch((err) => failed(err, $('notice'), attach));
  });
  const body = $('card-body');
  const r = state.readers.find((x) => x.card && x.card.serial === state.card);
  if (!r) {
    body.textContent = state.readers.length ? 'Insert your card into the reader.' : 'No card reader found. Connect one.';
    $('objects').innerHTML = '';
    return;
  }
  body.innerHTML = '';
  const dl = document.createElement('dl');
  for (const [k, v, cls] of [['Card number', groupSerial(r.card.serial), 'serial'], ['Label', r.card.label], ['Reader', r.name],
    ['Made by', `${r.card.manufacturer} ${r.card.model}`], ['PIN', pinWords(r.card.pin)]]) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v; if (cls) dd.className = cls;
    dl.append(dt, dd);
  }
  body.append(dl);
  const sel = $('algorithm');
  const current = sel.value;
  sel.innerHTML = '';
  for (const a of r.card.algorithms) {
    const o = document.createElement('option');
    o.value = a; o.textContent = a.replace('-', ' ');
    sel.append(o);
  }
  if (r.card.algorithms.includes(current)) sel.value = current;
  if (before !== state.card || !$('objects').dataset.card) refreshObjects();
}

function refreshObjects() {
  $('objects').dataset.card = state.card || '';
  return showObjects(state, { use: useKey, deleted: () => resume() }).catch((err) => failed(err, $('objects-error'), refreshObjects));
}

/** Brings the wizard to where the activation in the address bar stands, and lists the card again. */
async function resume() {
  await findActivation();
  refreshObjects();
}

async function findActivation() {
  const id = new URLSearchParams(location.search).get('activation');
  if (!id) { state.activation = null; state.key = null; setStep(1); return; }
  if (!state.activation || state.activation.id !== id) {
    const r = await fetch('api/activations/' + encodeURIComponent(id));
    if (!r.ok) {
      history.replaceState(null, '', location.pathname);
      setStep(1);
      showError(box(1), new Error('The portal no longer knows the activation in this link. Enter your details to start a new one.'));
      return;
    }
    state.activation = await r.json();
  }
  const a = state.activation;
  $('cn').value = a.name;
  $('email').value = a.email;
  $('details-result').className = 'result ok';
  $('details-result').textContent = `✓ Certificate for ${a.name} <${a.email}>.`;
  // Which key is this activation's: cardbridge says, card by card.
  state.key = null;
  for (const r of state.readers.filter((x) => x.card)) {
    const { keys } = await state.client.listKeys(r.card.serial);
    // The key the request was made with, else the one made for this activation.
    const k = keys.find((x) => a.keyId && x.keyId === a.keyId) || keys.find((x) => x.label === a.keyLabel);
    if (k) {
      state.key = k;
      if (state.card !== r.card.serial) { state.card = r.card.serial; renderCards(); }
      break;
    }
  }
  for (const id of ['gen-result', 'install-result']) { $(id).textContent = ''; $(id).className = 'result'; }
  if (!state.key) { setStep(2); return; }
  if ([...$('algorithm').options].some((o) => o.value === state.key.algorithm)) $('algorithm').value = state.key.algorithm;
  $('gen-result').className = 'result ok';
  $('gen-result').textContent = `✓ ${state.key.algorithm} key pair "${state.key.label}" is on card ${groupSerial(state.card)}.`;
  if (a.certificate && await installed(a.certificate)) {
    $('install-result').className = 'result ok';
    $('install-result').textContent = '✓ Your certificate is on your card.';
    setStep(4);
  } else if (a.certificate) {
    $('gen-result').textContent += ` The CA issued your certificate: ${a.subject}, valid until ${new Date(a.notAfter).toLocaleDateString()}.`;
    setStep(3);
  } else {
    $('gen-result').className = 'result';
    $('gen-result').textContent = `The key pair "${state.key.label}" is on card ${groupSerial(state.card)}, but the CA has no request for it yet.`;
    setStep(2);
  }
}

/** Asks cardbridge whether the activation's certificate (PEM) is on the card. */
async function installed(certPEM) {
  const der = certPEM.replace(/-----[^-]+-----|\s/g, '');
  const { certificates } = await state.client.listCertificates(state.card);
  return certificates.some((c) => c.der === der);
}

/** Sends the request to the CA, which issues the certificate at once. */
async function submit(csr, keyId) {
  const r = await fetch(`api/activations/${state.activation.id}/request`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ csr, keyId }),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error);
  state.activation = body;
}

function subject() {
  const a = state.activation;
  return { subject: { commonName: a.name, emailAddress: a.email }, emails: [a.email] };
}

$('details').onclick = () => run(1, $('details'), async () => {
  const r = await fetch('api/activations', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: $('cn').value, email: $('email').value }),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error);
  history.replaceState(null, '', '?activation=' + body.id);
  state.activation = body;
  await resume();
}, 'Saving…');

$('generate').onclick = () => run(2, $('generate'), async () => {
  if (!state.card) throw new Error('Insert your card into the reader, then try again.');
  const res = await state.client.generateKey({ card: state.card, algorithm: $('algorithm').value, label: state.activation.keyLabel, csr: subject() });
  state.key = { keyId: res.keyId, label: state.activation.keyLabel, algorithm: res.algorithm, certificate: null };
  await submit(res.csr, res.keyId);
  await resume();
});

// A key of this activation without a request (the page was closed in
// between), or a key the user chose to reuse: one PIN for the request.
$('rerequest').onclick = () => run(2, $('rerequest'), async () => {
  const res = await state.client.createCSR({ card: state.card, keyId: state.key.keyId, ...subject() });
  await submit(res.csr, state.key.keyId);
  await resume();
});

async function useKey(k) {
  if (!state.activation) {
    showError(box(1), new Error('Enter your name and e-mail address first; then the key can be used for them.'));
    return;
  }
  state.key = k;
  setStep(2);
  $('gen-result').className = 'result';
  $('gen-result').textContent = `The certificate will be for the key "${k.label}" (${k.algorithm}).`;
  $('rerequest').click();
}

$('install').onclick = () => run(3, $('install'), async () => {
  const a = state.activation;
  const res = await state.client.installCertificate({ card: state.card, certificate: a.certificate, chain: a.chain });
  $('install-result').className = 'result ok';
  $('install-result').textContent = `✓ Certificate and CA chain stored on your card next to key ${res.keyId.slice(0, 16)}….`;
  setStep(4);
  refreshObjects();
});

$('sign').onclick = () => run(4, $('sign'), async () => {
  const message = $('message').value;
  const algorithm = state.key.algorithm.startsWith('RSA') ? 'RSA-PKCS1-SHA256' : 'ECDSA-SHA256';
  const certificate = state.activation.certificate;
  const { signature } = await state.client.sign({ card: state.card, keyId: state.key.keyId, algorithm, data: message });
  const r = await fetch('api/verify', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ certificate, message, signature, algorithm }),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error);
  $('sign-result').className = 'result ok';
  $('sign-result').textContent = `✓ The portal checked your signature: signed by ${body.subject}. Your card is ready for S/MIME mail.`;
  $('step4').dataset.state = 'done';
});

$('refresh').onclick = () => attach();
$('restart').onclick = () => { history.replaceState(null, '', location.pathname); location.reload(); };

start();
