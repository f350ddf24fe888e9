// The card panel's list of what is on the card already: key pairs, with
// their certificates, and CA certificates; each key can be used for the
// activation or deleted.
import { $, showError, clearError } from './common.js';

/**
 * Lists the objects on state.card. actions.use(key) reuses a key for the
 * activation; actions.deleted(key) hears that a key was deleted.
 */
export async function showObjects(state, actions) {
  const ul = $('objects');
  clearError($('objects-error'));
  if (!state.card) { ul.innerHTML = ''; return; }
  const card = state.card;
  const [{ keys }, { certificates }] = await Promise.all([state.client.listKeys(card), state.client.listCertificates(card)]);
  if (card !== state.card) return; // another card was chosen meanwhile
  ul.innerHTML = '';
  for (const k of keys) {
    const li = document.createElement('li');
    li.dataset.keyId = k.keyId;
    const cert = certificates.find((c) => c.keyId === k.keyId && !c.isCA);
    const mine = !!state.key && state.key.keyId === k.keyId;
    const title = document.createElement('div');
    title.innerHTML = '<strong></strong> <span class="muted"></span>';
    title.querySelector('strong').textContent = k.label || 'Key without a name';
    title.querySelector('span').textContent = `${k.algorithm}${mine ? ' · this activation' : ''}`;
    const detail = document.createElement('div');
    detail.className = 'muted small';
    detail.textContent = cert
      ? `Certificate: ${cert.subject}, valid until ${new Date(cert.notAfter).toLocaleDateString()}`
      : 'No certificate yet';
    li.append(title, detail);
    // Any other key can serve the activation (with a certificate, that
    // is a renewal), until the activation has a key of its own.
    if (!mine && state.activation && !state.key) {
      li.append(button('Use for this activation', () => actions.use(k)));
    }
    li.append(button('Delete', async (b) => {
      b.disabled = true;
      b.textContent = 'Answer the cardbridge window…';
      try {
        await state.client.deleteKey({ card, keyId: k.keyId });
        await showObjects(state, actions);
        await actions.deleted(k);
      } catch (err) {
        b.disabled = false;
        b.textContent = 'Delete';
        showError($('objects-error'), err);
      }
    }));
    ul.append(li);
  }
  const ca = certificates.filter((c) => c.isCA).length;
  if (ca) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = `${ca} CA certificate${ca > 1 ? 's' : ''}`;
    ul.append(li);
  }
  if (!ul.children.length) ul.innerHTML = '<li class="muted">No keys or certificates yet.</li>';
}

function button(text, onclick) {
  const b = document.createElement('button');
  b.className = 'link';
  b.textContent = text;
  b.onclick = () => onclick(b);
  return b;
}
