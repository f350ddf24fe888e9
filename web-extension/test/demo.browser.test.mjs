// The demo enrollment wizard, walked through in real headless Chromium
// against the real daemon and a SoftHSM2 card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startDemo, launchBrowser, listObjects, runWizard } from './helpers.mjs';

for (const algorithm of ['RSA-2048', 'EC-P256']) {
  test(`demo wizard enrolls an ${algorithm} key on the card`, { timeout: 120000 }, async () => {
    const demo = await startDemo();
    const browser = await launchBrowser();
    try {
      assert.match(demo.portal, /^http:\/\/127\.0\.0\.1:\d+$/);
      demo.pinValue = readFileSync(demo.env.CB_TEST_PIN_FILE, 'utf8').trim();
      assert.equal(demo.pinValue, demo.pin, 'the banner prints the demo card PIN');

      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(e));
      await page.goto(demo.portal);
      await page.waitForSelector('#conn.pill-ok');
      assert.match(await page.textContent('#conn'), /websocket/, 'without the extension the SDK uses the WebSocket');
      await page.waitForSelector('.serial');
      const shownSerial = (await page.textContent('.serial')).replace(/\s/g, '');
      assert.equal(shownSerial, demo.serial, 'the page shows the card number');

      await runWizard(page, algorithm);
      assert.match(await page.textContent('#sign-result'), /verified your signature/);
      assert.equal(await page.isHidden('#error'), true);
      await page.screenshot({ path: path.join(demo.home, `demo-${algorithm}.png`), fullPage: true });
      if (process.env.CARDBRIDGE_SCREENSHOT_DIR) {
        await page.screenshot({ path: path.join(process.env.CARDBRIDGE_SCREENSHOT_DIR, `demo-${algorithm}.png`), fullPage: true });
      }
      assert.deepEqual(pageErrors, []);

      // The card holds the key pair, the certificate and the chain.
      const certs = listObjects(demo, 'cert');
      assert.equal((certs.match(/Certificate Object/g) || []).length, 3, certs);
      assert.match(certs, /Alice Example/);
      assert.match(certs, /cardbridge Demo S\/MIME CA/);
      assert.match(certs, /cardbridge Demo Root CA/);
      const privs = listObjects(demo, 'privkey');
      assert.equal((privs.match(/Private Key Object/g) || []).length, 1, privs);
      assert.match(privs, /sensitive/);

      // Every PIN dialog named the portal's origin.
      const prompts = readFileSync(demo.pinLog, 'utf8').trim().split('\n');
      assert.equal(prompts.length, 4, 'generate, request, install and sign each asked once');
      for (const p of prompts) assert.ok(p.includes(demo.portal), p);

      // Webmail: sign a message to oneself, then decrypt one sent to us.
      await page.goto(demo.portal + '/webmail.html');
      await page.waitForSelector('#send:not([disabled])');
      assert.equal(await page.inputValue('#from'), 'alice@example.org');
      await page.fill('#subject', 'Grüße from the card');
      await page.click('#send');
      await page.waitForSelector('#send-result.ok');
      await page.waitForSelector('li[data-kind="signed"]');
      const inbox = await (await fetch(demo.portal + '/api/mail/inbox')).json();
      const signedMail = Buffer.from(inbox.messages.find((m) => m.kind === 'signed').raw, 'base64');
      const root = await (await fetch(demo.portal + '/ca/root.pem')).text();
      writeFileSync(path.join(demo.home, 'root.pem'), root);
      writeFileSync(path.join(demo.home, 'signed.eml'), signedMail);
      const verified = execFileSync('openssl', ['smime', '-verify', '-in', path.join(demo.home, 'signed.eml'), '-CAfile', path.join(demo.home, 'root.pem')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      assert.match(verified, /signed with the key on my card/);
      assert.match(signedMail.toString(), /Subject: =\?utf-8\?B\?/);

      await page.click('#ask');
      await page.waitForSelector('li[data-kind="encrypted"]');
      await page.click('li[data-kind="encrypted"] button');
      await page.waitForSelector('#read-result.ok');
      assert.match(await page.textContent('#opened'), /only the key on your card could open this message/);
      assert.equal(await page.isHidden('#error'), true);
      if (process.env.CARDBRIDGE_SCREENSHOT_DIR) {
        await page.screenshot({ path: path.join(process.env.CARDBRIDGE_SCREENSHOT_DIR, `webmail-${algorithm}.png`), fullPage: true });
      }
      const all = readFileSync(demo.pinLog, 'utf8').trim().split('\n');
      assert.equal(all.length, 6, 'sign and decrypt each asked once');
      assert.match(all[5], /Your new certificate/, 'the decrypt dialog names the message');
    } finally {
      await browser.close();
      await demo.stop();
    }
  });
}
