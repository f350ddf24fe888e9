// The extension road in Firefox ESR, the oldest supported and the current
// one: page → content script → background → the native host that
// `cardbridge install --user` registered in ~/.mozilla → daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { binary, startDemo, staticServer, sdkSource, runWizard } from './helpers.mjs';
import { firefoxBuilds, launchFirefox, asPlaywright } from './firefox.mjs';
import { multiClientSites, checkClients } from './multiclient.mjs';

const GECKO_ID = 'cardbridge@cardbridge.app';

// installUser runs `cardbridge install --user` in the demo's HOME and
// returns the path of the manifest Firefox reads.
function installUser(demo) {
  execFileSync(binary, ['install', '--user'], { env: demo.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = path.join(demo.home, '.mozilla', 'native-messaging-hosts', 'app.cardbridge.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual([m.name, m.type, m.allowed_extensions], ['app.cardbridge', 'stdio', [GECKO_ID]]);
  assert.ok(path.isAbsolute(m.path), m.path);
  return file;
}

for (const build of firefoxBuilds()) {
  const needs = (t) => {
    if (!build.skip) return true;
    if (process.env.CI) assert.fail(`${build.name} must run in CI: ${build.skip}`);
    t.skip(build.skip);
    return false;
  };

  test(`${build.name}: the demo wizard and several clients per page and frame, through the extension`, { timeout: 90000 }, async (t) => {
    if (!needs(t)) return;
    const sites = await multiClientSites();
    const demo = await startDemo(['--allow-origin', sites.main, '--allow-origin', sites.other]);
    let browser;
    try {
      installUser(demo);
      browser = await launchFirefox(build.exe, demo.env);
      const page = await browser.newPage();
      await page.goto(demo.portal);
      await page.waitForSelector('#conn.pill-ok', { timeout: 20000 });
      const ui = asPlaywright(page);
      assert.match(await ui.textContent('#conn'), /extension/, 'the SDK chose the extension');
      await ui.waitForSelector('.serial');
      await runWizard(ui, 'EC-P256');
      assert.match(await ui.textContent('#sign-result'), /checked your signature/);
      const viaExt = demo.logs().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('"via":"extension"'));
      for (const m of ['keys.generate', 'certificates.install', 'sign']) {
        assert.ok(viaExt.some((l) => l.includes(`"method":"${m}"`) && l.includes(`"origin":"${demo.portal}"`)), `${m} not in the audit lines:\n${demo.logs()}`);
      }
      const prompts = readFileSync(demo.pinLog, 'utf8').trim().split('\n');
      assert.equal(prompts.filter((p) => p.startsWith('GETPIN')).length, 3, 'key pair with request, install and sign each asked once');
      for (const p of prompts) assert.ok(p.includes(demo.portal), p);

      await checkClients(await browser.newPage(), sites, demo);
    } finally {
      if (browser) await browser.close();
      sites.close();
      await demo.stop();
    }
  });

  test(`${build.name}: a refused site is refused and cannot spoof its origin; a missing app is named`, { timeout: 90000 }, async (t) => {
    if (!needs(t)) return;
    const demo = await startDemo([], { CB_TEST_CONFIRM: 'no' });
    const other = await staticServer({
      '/': ['text/html', '<!doctype html><title>other</title>'],
      '/sdk.js': ['text/javascript', sdkSource()],
    }, 'localhost');
    let browser;
    try {
      const manifest = installUser(demo);
      browser = await launchFirefox(build.exe, demo.env);
      const page = await browser.newPage();
      await page.goto(other.origin);
      const connectOnce = () => page.evaluate(async () => {
        const sdk = await import('/sdk.js');
        try {
          const c = await sdk.connect({ transports: ['extension'], launch: false });
          try {
            await c.listCards();
            return { transport: c.transport, result: 'allowed' };
          } finally {
            c.close();
          }
        } catch (e) {
          return { code: e.code, reason: e.reason };
        }
      });
      const refused = await connectOnce();
      assert.equal(refused.code, 1007, JSON.stringify(refused));
      // A raw message that claims the portal's origin is judged as the site it came from.
      const spoof = await page.evaluate((claimed) => new Promise((resolve) => {
        window.addEventListener('message', (ev) => {
          if (ev.data && ev.data.cardbridge === 'extension' && ev.data.type === 'message') resolve(ev.data.message.error ? ev.data.message.error.code : 'allowed');
        });
        window.postMessage({ cardbridge: 'page', type: 'message', origin: claimed,
          message: { jsonrpc: '2.0', id: 99, method: 'cards.list', origin: claimed } }, location.origin);
        setTimeout(() => resolve('timeout'), 15000);
      }), demo.portal);
      assert.equal(spoof, 1007, 'the claimed origin was ignored');
      const prompts = readFileSync(demo.pinLog, 'utf8').trim().split('\n');
      // One dialog: the refusal stands, so the spoof does not ask again.
      assert.equal(prompts.length, 1, prompts.join('\n'));
      for (const p of prompts) assert.ok(p.startsWith('CONFIRM Allow ' + other.origin + ' to use your cards?'), p);

      // Without the manifest, Firefox says why on port.error, and the page hears it.
      rmSync(manifest);
      const missing = await connectOnce();
      assert.equal(missing.code, 2003, JSON.stringify(missing));
      assert.match(missing.reason, /could not be started: No such native application app\.cardbridge/);
      assert.match(missing.reason, /cardbridge install --user/);
    } finally {
      if (browser) await browser.close();
      other.close();
      await demo.stop();
    }
  });
}
