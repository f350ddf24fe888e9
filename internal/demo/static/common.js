// What the demo pages share: errors in words a person can act on, shown
// where they happened and scrolled into view, and the choice of card.
import { ErrorCodes } from './sdk/cardbridge.js';

export const $ = (id) => document.getElementById(id);

// Each error says what happened and what to do next.
const advice = {
  [ErrorCodes.USER_CANCELLED]: 'You closed the cardbridge window. Nothing was changed on your card.',
  [ErrorCodes.PIN_INCORRECT]: 'The PIN was not accepted. Check it and try again.',
  [ErrorCodes.PIN_LOCKED]: 'Your card\'s PIN is locked. Unblock it with your PUK (in your card\'s manager, or cardbridge\'s pin.unblock), then try again.',
  [ErrorCodes.CARD_NOT_PRESENT]: 'The card is not in the reader. Insert it, then try again.',
  [ErrorCodes.CARD_REMOVED]: 'The card was taken out during the operation. Insert it and try again.',
  [ErrorCodes.KEY_NOT_FOUND]: 'The key is no longer on the card.',
  [ErrorCodes.UNSUPPORTED_ALGORITHM]: 'Your card cannot make this kind of key. Choose another kind and try again.',
  [ErrorCodes.ORIGIN_DENIED]: 'You did not allow this site to use your cards, so it cannot go on. To allow it, press the button: cardbridge asks you again.',
  [ErrorCodes.BUSY]: 'A cardbridge window for this site is already open. Answer it first, then try again.',
  [ErrorCodes.CERTIFICATE_MISMATCH]: 'This certificate does not belong to any key on the card. Choose the card that holds the key.',
  [ErrorCodes.TIMEOUT]: 'The cardbridge window closed because nobody answered in time. Try again when you are ready.',
  [ErrorCodes.NOT_RUNNING]: 'cardbridge is not running on this computer. Start it (run "cardbridge"), then try again.',
  [ErrorCodes.DISCONNECTED]: 'The connection to cardbridge was lost. Make sure it runs, then try again.',
};

export function explain(err) {
  if (!err || !err.code) return String((err && err.message) || err);
  let text = advice[err.code];
  // The SDK's own codes (2001 on) come with a sentence for people.
  if (!text && err.code >= 2000) text = err.reason;
  if (!text) text = 'cardbridge could not do this' + (err.reason ? ': ' + err.reason + '.' : '.');
  if (err.code === ErrorCodes.PIN_INCORRECT && err.data && err.data.finalTry) {
    text += ' Careful: one more wrong PIN locks the card.';
  }
  return text;
}

/**
 * Shows an error in box (an element with a .msg and a .retry button),
 * scrolls it into view and focuses it. retry, when given, is offered as a
 * button labelled retryLabel.
 */
export function showError(box, err, retry, retryLabel = 'Try again') {
  box.querySelector('.msg').textContent = explain(err);
  box.dataset.code = (err && err.code) || '';
  const btn = box.querySelector('.retry');
  btn.hidden = !retry;
  btn.textContent = retryLabel;
  btn.onclick = retry ? () => { clearError(box); retry(); } : null;
  box.hidden = false;
  box.scrollIntoView({ block: 'center' });
  box.focus({ preventScroll: true });
}

export function clearError(box) { box.hidden = true; }

export function groupSerial(s) { return s.length > 8 ? s.replace(/(.{4})(?=.)/g, '$1 ') : s; }

export function pem(derB64) {
  return '-----BEGIN CERTIFICATE-----\n' + derB64.match(/.{1,64}/g).join('\n') + '\n-----END CERTIFICATE-----\n';
}

/**
 * Renders the choice of card into fieldset (with a container #card-options)
 * and returns the serial in use: current if it is still present, else
 * preferred, else the first card. onChange hears another choice.
 */
export function chooseCard(fieldset, readers, current, preferred, onChange) {
  const cards = readers.filter((r) => r.card);
  const serials = cards.map((r) => r.card.serial);
  let use = serials.includes(current) ? current : serials.includes(preferred) ? preferred : serials[0] || null;
  const box = fieldset.querySelector('div');
  box.innerHTML = '';
  fieldset.hidden = cards.length < 2;
  for (const r of cards) {
    const label = document.createElement('label');
    label.className = 'choice';
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'card';
    input.value = r.card.serial;
    input.checked = r.card.serial === use;
    input.onchange = () => onChange(r.card.serial);
    const text = document.createElement('span');
    text.textContent = `${groupSerial(r.card.serial)} · ${r.card.label || 'no label'} (${r.name})`;
    label.append(input, text);
    box.append(label);
  }
  return use;
}

/** Says how the card's PIN stands, in words. */
export function pinWords(pin) {
  if (pin.locked) return 'locked (unblock it with the PUK)';
  if (pin.finalTry) return 'one try left';
  if (pin.countLow) return 'a wrong PIN was entered since the last right one';
  return 'ready';
}

/** The connection badge at the top of the page. */
export function setPill(text, ok) {
  $('conn').textContent = text;
  $('conn').className = 'pill ' + (ok ? 'pill-ok' : 'pill-bad');
}

/**
 * failure returns the page's error handler: a refused site goes to the
 * notice at the top, with a way to allow it (attach connects again);
 * anything else shows next to its step.
 */
export function failure(attach) {
  return (err, where, retry) => {
    if (err.code === ErrorCodes.ORIGIN_DENIED) {
      setPill('this site is not allowed', false);
      showError($('notice'), err, attach, 'Allow this site');
      return;
    }
    showError(where, err, retry);
  };
}
