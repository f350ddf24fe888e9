// The demo portal and webmail, walked through in real headless Chromium
// against the real daemon and SoftHSM2 cards, in a window of 1280×750 as a
// laptop shows it. Screenshots of every step go to
// $CARDBRIDGE_SCREENSHOT_DIR, or to a temporary folder whose path is
// printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemo, launchBrowser, listObjects } from './helpers.mjs';

const viewport = { width: 1280, height: 750 };
const shotsRoot = process.env.CARDBRIDGE_SCREENSHOT_DIR || mkdtempSync(path.join(tmpdir(), 'cardbridge-demo-screenshots-'));
console.log(`# screenshots: ${shotsRoot}`);

/** A demo with a queue of dialog answers (see testdata/pinentry-script) and a page on it. */
async function setup(name, args = []) {
  const dir = path.join(shotsRoot, name);
  mkdirSync(dir, { recursive: true });
  const queueFile = path.join(mkdtempSync(path.join(tmpdir(), 'cardbridge-queue-')), 'answers');
  writeFileSync(queueFile, '');
  const demo = await startDemo(args, { CB_TEST_PIN_QUEUE: queueFile });
  demo.pinValue = readFileSync(demo.env.CB_TEST_PIN_FILE, 'utf8').trim();
  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e));
  let n = 0;
  return {
    demo, browser, page, pageErrors,
    queue: (...answers) => writeFileSync(queueFile, answers.map((a) => a + '\n').join('')),
    shot: (what) => page.screenshot({ path: path.join(dir, `${String(++n).padStart(2, '0')}-${what}.png`) }),
    getpins: () => readFileSync(demo.pinLog, 'utf8').split('\n').filter((l) => l.startsWith('GETPIN')),
    close: async () => { await browser.close(); await demo.stop(); },
  };
}

/** Asserts that an element is shown and wholly inside the window. */
async function assertInView(page, selector, text) {
  const el = await page.waitForSelector(selector, { state: 'visible' });
  // Scrolling is instant, but give layout a frame.
  await page.waitForFunction((e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }, el, { timeout: 3000 })
    .catch(() => {});
  const box = await el.evaluate((e) => { const r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, h: innerHeight }; });
  assert.ok(box.top >= 0 && box.bottom <= box.h, `${selector} is out of view: ${JSON.stringify(box)}`);
  if (text) assert.match(await el.textContent(), text);
}

async function details(page, name = 'Alice Example', email = 'alice@example.org') {
  await page.fill('#cn', name);
  await page.fill('#email', email);
  await page.click('#details');
  await page.waitForSelector('#step2[data-state="active"]');
}

const count = (s, re) => (s.match(re) || []).length;

test('an activation takes three PINs, survives reloads, and webmail names the signer', { timeout: 180000 }, async () => {
  const t = await setup('activation');
  const { page, demo } = t;
  try {
    assert.equal(demo.pinValue, demo.pin, 'the banner prints the demo card PIN');
    await page.goto(demo.portal);
    await page.waitForSelector('#conn.pill-ok');
    await page.waitForSelector('.serial');
    assert.equal((await page.textContent('.serial')).replace(/\s/g, ''), demo.serial, 'the page shows the demo card');
    await t.shot('start');
    await details(page);
    assert.match(page.url(), /\?activation=[0-9a-f]{8}$/);
    await t.shot('details');

    await page.selectOption('#algorithm', 'RSA-2048');
    await page.click('#generate');
    await page.waitForSelector('#step3[data-state="active"]');
    await t.shot('key-pair-and-request');
    // A reload finds the key again: cardbridge lists it under the
    // activation's label; nothing is made twice.
    await page.reload();
    await page.waitForSelector('#step3[data-state="active"]');
    assert.match(await page.textContent('#gen-result'), /key pair "Demo CA S\/MIME [0-9a-f]{8}" is on card/);
    assert.match(await page.textContent('#objects'), /this activation/);
    await t.shot('reloaded-before-install');

    await page.click('#install');
    await page.waitForSelector('#step4[data-state="active"]');
    await page.reload();
    await page.waitForSelector('#step4[data-state="active"]');
    await t.shot('reloaded-after-install');
    await page.click('#sign');
    await page.waitForSelector('#sign-result.ok');
    assert.match(await page.textContent('#sign-result'), /checked your signature: signed by CN=Alice Example/);
    await t.shot('signed');

    // Three PIN dialogs in all, each naming the portal; one consent.
    const pins = t.getpins();
    assert.equal(pins.length, 3, 'key pair with request, install, test signature:\n' + pins.join('\n'));
    for (const p of pins) assert.ok(p.includes(demo.portal), p);
    assert.match(readFileSync(demo.pinLog, 'utf8'), new RegExp(`CONFIRM Allow ${demo.portal} to use your cards\\?`));
    const certs = listObjects(demo, 'cert');
    assert.equal(count(certs, /Certificate Object/g), 3, certs);
    const privs = listObjects(demo, 'privkey');
    assert.equal(count(privs, /Private Key Object/g), 1, privs);

    // Webmail: sign a message to oneself; the inbox says who signed it.
    await page.goto(demo.portal + '/webmail.html');
    await page.waitForSelector('#send:not([disabled])');
    assert.equal(await page.inputValue('#from'), 'alice@example.org');
    await page.fill('#subject', 'Grüße from the card');
    await page.click('#send');
    await page.waitForSelector('li[data-kind="signed"][data-valid="true"]');
    assert.match(await page.textContent('li[data-kind="signed"] .tag'), /signed by Alice Example/);
    await page.click('li[data-kind="signed"] button');
    assert.match(await page.textContent('#check'), /Signed by Alice Example <alice@example.org>\. The signature is valid and the certificate, issued by cardbridge Demo S\/MIME CA, is valid until/);
    await t.shot('webmail-signed');
    // openssl agrees.
    const inbox = await (await fetch(demo.portal + '/api/mail/inbox')).json();
    writeFileSync(path.join(demo.home, 'signed.eml'), Buffer.from(inbox.messages.find((m) => m.kind === 'signed').raw, 'base64'));
    writeFileSync(path.join(demo.home, 'root.pem'), await (await fetch(demo.portal + '/ca/root.pem')).text());
    const verified = execFileSync('openssl', ['smime', '-verify', '-in', path.join(demo.home, 'signed.eml'), '-CAfile', path.join(demo.home, 'root.pem')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    assert.match(verified, /signed with the key on my card/);

    await page.click('#ask');
    await page.click('li[data-kind="encrypted"] button');
    await page.waitForSelector('#read-result.ok #opened');
    assert.match(await page.textContent('#opened'), /only the key on your card could open this message/);
    await t.shot('webmail-decrypted');
    assert.equal(t.getpins().length, 5, 'sign and decrypt each asked once');
    assert.deepEqual(t.pageErrors, []);
  } finally {
    await t.close();
  }
});

test('every error shows next to its step, in view, and the page recovers', { timeout: 180000 }, async () => {
  // A refusal stands for --refusal-memory (a minute by default): long
  // enough that a page cannot bring its dialog back at once.
  const t = await setup('errors', ['--refusal-memory', '2s']);
  const { page, demo } = t;
  try {
    // A refused site: the page says so at the top and can ask again.
    t.queue('no');
    await page.goto(demo.portal);
    await assertInView(page, '#notice', /did not allow this site/);
    assert.match(await page.textContent('#conn'), /not allowed/);
    await t.shot('site-refused');
    await page.waitForTimeout(2500);
    await page.click('#notice .retry');
    await page.waitForSelector('#conn.pill-ok');
    await page.waitForSelector('#notice', { state: 'hidden' });
    await page.waitForSelector('.serial');
    await t.shot('site-allowed');

    await page.click('#details');
    await assertInView(page, '#step1 .step-error', /Enter your name/);
    await t.shot('details-missing');
    await details(page, 'Bob Example', 'bob@example.org');
    await page.selectOption('#algorithm', 'EC-P256');

    // Wrong PIN, cancel, nobody answering: each next to step 2, in view,
    // with Try again.
    const cases = [['pin 000000', /PIN was not accepted/, 'wrong-pin'], ['cancel', /closed the cardbridge window/, 'cancelled'],
      ['timeout', /nobody answered in time/, 'timeout']];
    for (const [i, [answer, words, name]] of cases.entries()) {
      t.queue(answer);
      await page.click(i === 0 ? '#generate' : '#step2 .step-error .retry');
      await assertInView(page, '#step2 .step-error', words);
      assert.equal(await page.textContent('#step2 .step-error .retry'), 'Try again');
      await t.shot(name);
    }
    await page.click('#step2 .step-error .retry');
    await page.waitForSelector('#step3[data-state="active"]');
    await page.waitForSelector('#step2 .step-error', { state: 'hidden' });

    t.queue('cancel');
    await page.click('#install');
    await assertInView(page, '#step3 .step-error', /closed the cardbridge window/);
    await t.shot('install-cancelled');
    await page.click('#step3 .step-error .retry');
    await page.waitForSelector('#step4[data-state="active"]');
    t.queue('pin 000000');
    await page.click('#sign');
    await assertInView(page, '#step4 .step-error', /PIN was not accepted/);
    await t.shot('sign-wrong-pin');
    await page.click('#step4 .step-error .retry');
    await page.waitForSelector('#sign-result.ok');
    const privs = listObjects(demo, 'privkey');
    assert.equal(count(privs, /Private Key Object/g), 1, 'failed tries made no extra key:\n' + privs);

    // A new activation reuses the key already on the card (a renewal):
    // one PIN for the request, and a reload still knows which key it is.
    await page.click('#restart');
    await page.waitForSelector('#step1[data-state="active"]');
    await details(page, 'Bob Example', 'bob@example.org');
    await page.click('#objects button:has-text("Use for this activation")');
    await page.waitForSelector('#step3[data-state="active"]');
    await page.reload();
    await page.waitForSelector('#step3[data-state="active"]');
    assert.match(await page.textContent('#gen-result'), /key pair "Demo CA S\/MIME [0-9a-f]{8}" is on card/);
    await page.click('#install');
    await page.waitForSelector('#step4[data-state="active"]');
    await t.shot('key-reused');
    assert.equal(count(listObjects(demo, 'privkey'), /Private Key Object/g), 1, 'the key was reused, not made again');
    assert.deepEqual(t.pageErrors, []);
  } finally {
    await t.close();
  }
});

test('with two cards the portal and webmail offer a choice, and use the chosen one', { timeout: 180000 }, async () => {
  const t = await setup('two-cards');
  const { page, demo } = t;
  try {
    await page.goto(demo.portal);
    await page.waitForSelector('#conn.pill-ok');
    // A second card arrives while the page is open.
    const out = execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'second card', '--pin', '2468', '--so-pin', '13572468'],
      { env: { ...process.env, SOFTHSM2_CONF: demo.softhsmConf } }).toString();
    assert.match(out, /initialized/);
    await page.waitForSelector('#card-choice input[name="card"] >> nth=1', { timeout: 20000 });
    const options = await page.$$eval('#card-choice input[name="card"]', (is) => is.map((i) => ({ value: i.value, checked: i.checked })));
    assert.equal(options.length, 2);
    assert.deepEqual(options.find((o) => o.checked).value, demo.serial, 'the demo card stays the one in use');
    await t.shot('two-cards');
    const second = options.find((o) => o.value !== demo.serial).value;
    await page.check(`#card-choice input[value="${second}"]`);
    await page.waitForFunction((s) => document.querySelector('.serial').textContent.replace(/\s/g, '') === s, second);

    await details(page, 'Carol Example', 'carol@example.org');
    t.queue('pin 2468');
    await page.click('#generate');
    await page.waitForSelector('#step3[data-state="active"]');
    assert.match(await page.textContent('#gen-result'), new RegExp(second.replace(/(.{4})(?=.)/g, '$1 ')));
    assert.match(t.getpins()[0], new RegExp(second.replace(/(.{4})(?=.)/g, '$1 ')), 'the PIN dialog names the chosen card');
    await t.shot('second-card-used');
    const demoPrivs = listObjects(demo, 'privkey');
    assert.equal(count(demoPrivs, /Private Key Object/g), 0, 'the demo card was not touched:\n' + demoPrivs);

    // The card panel deletes a key (after a confirmation and the PIN), and
    // the wizard goes back to making one.
    t.queue('yes', 'pin 2468');
    await page.click('#objects li:has-text("this activation") button:has-text("Delete")');
    await page.waitForSelector('#objects li:has-text("No keys or certificates yet")');
    await page.waitForSelector('#step2[data-state="active"]');
    assert.match(readFileSync(demo.pinLog, 'utf8'), /CONFIRM .*wants to DELETE the key "Demo CA S\/MIME [0-9a-f]{8}"/);
    await t.shot('key-deleted');

    await page.goto(demo.portal + '/webmail.html');
    await page.waitForSelector('#card-choice:not([hidden]) input[name="card"] >> nth=1');
    await t.shot('webmail-two-cards');
    assert.deepEqual(t.pageErrors, []);
  } finally {
    await t.close();
  }
});
