// The demo enrollment wizard, walked through in real headless Chromium
// against the real daemon and a SoftHSM2 card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startDemo, launchBrowser, listObjects } from './helpers.mjs';

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
      await page.waitForSelector('.serial');
      const shownSerial = (await page.textContent('.serial')).replace(/\s/g, '');
      assert.equal(shownSerial, demo.serial, 'the page shows the card number');

      await page.selectOption('#algorithm', algorithm);
      await page.click('#generate');
      await page.waitForSelector('#gen-result.ok');
      await page.fill('#email', 'alice@example.org');
      await page.fill('#cn', 'Alice Example');
      await page.fill('#org', 'Example Ltd.');
      await page.fill('#locality', 'Kraków');
      await page.fill('#country', 'PL');
      await page.click('#request');
      await page.waitForSelector('#csr-result.ok');
      await page.click('#issue');
      await page.waitForSelector('#issue-result.ok');
      await page.click('#install');
      await page.waitForSelector('#install-result.ok');
      await page.click('#sign');
      await page.waitForSelector('#sign-result.ok');
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
    } finally {
      await browser.close();
      await demo.stop();
    }
  });
}
