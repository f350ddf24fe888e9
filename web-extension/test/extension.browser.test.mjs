// The extension road: page → content script → background → native host →
// daemon, in real headless Chromium with the unpacked MV3 extension.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startDemo, launchWithExtension, staticServer, sdkSource, runWizard } from './helpers.mjs';
import { multiClientSites, checkClients } from './multiclient.mjs';

test('the demo wizard runs through the extension, and the daemon sees the real origin', { timeout: 120000 }, async () => {
  const demo = await startDemo();
  const ctx = await launchWithExtension(demo.env);
  try {
    const page = await ctx.newPage();
    await page.goto(demo.portal);
    await page.waitForSelector('#conn.pill-ok', { timeout: 20000 });
    assert.match(await page.textContent('#conn'), /extension/, 'the SDK chose the extension');
    await page.waitForSelector('.serial');
    await runWizard(page, 'EC-P256');
    // The daemon heard the page's origin from the browser, via the
    // extension. Requests that act on the card are audit lines at info
    // level (lists the page polls are debug).
    const lines = demo.logs().split('\n').filter((l) => l.includes('"msg":"request"'));
    const viaExt = lines.filter((l) => l.includes('"via":"extension"'));
    for (const m of ['keys.generate', 'certificates.install', 'sign']) {
      assert.ok(viaExt.some((l) => l.includes(`"method":"${m}"`)), `${m} not in the audit lines:\n${demo.logs()}`);
    }
    for (const l of viaExt) assert.ok(l.includes(`"origin":"${demo.portal}"`), l);
    const prompts = readFileSync(demo.pinLog, 'utf8');
    assert.ok(prompts.split('\n').filter(Boolean).every((p) => p.includes(demo.portal)), prompts);
  } finally {
    await ctx.close();
    await demo.stop();
  }
});

test('a site the user does not allow is refused on both roads, and cannot spoof its origin', { timeout: 120000 }, async () => {
  const demo = await startDemo([], { CB_TEST_CONFIRM: 'no' });
  const other = await staticServer({
    '/': ['text/html', '<!doctype html><title>other</title><script type="module" src="/sdk.js"></script>'],
    '/sdk.js': ['text/javascript', sdkSource()],
  }, 'localhost');
  const ctx = await launchWithExtension(demo.env);
  try {
    const page = await ctx.newPage();
    await page.goto(other.origin);
    const apiPort = Number(new URL(demo.api.replace('ws://', 'http://')).port);
    const result = await page.evaluate(async ({ apiPort, spoof }) => {
      const sdk = await import('/sdk.js');
      const out = {};
      for (const transports of [['extension'], ['websocket']]) {
        try {
          const c = await sdk.connect({ transports, ports: [apiPort], launch: false });
          out[transports[0] + ':transport'] = c.transport;
          await c.listCards();
          out[transports[0]] = 'allowed';
        } catch (e) {
          out[transports[0]] = e.code;
        }
      }
      // Spoofing: a raw message that claims another origin.
      out.spoof = await new Promise((resolve) => {
        window.addEventListener('message', (ev) => {
          if (ev.data && ev.data.cardbridge === 'extension' && ev.data.type === 'message') resolve(ev.data.message.error ? ev.data.message.error.code : 'allowed');
        });
        window.postMessage({ cardbridge: 'page', type: 'open', origin: spoof }, location.origin);
        setTimeout(() => window.postMessage({ cardbridge: 'page', type: 'message', origin: spoof,
          message: { jsonrpc: '2.0', id: 99, method: 'cards.list', origin: spoof } }, location.origin), 1500);
        setTimeout(() => resolve('timeout'), 15000);
      });
      return out;
    }, { apiPort, spoof: demo.portal });
    assert.equal(result['extension:transport'], 'extension');
    assert.equal(result['websocket:transport'], 'websocket');
    assert.equal(result.extension, 1007);
    assert.equal(result.websocket, 1007);
    assert.equal(result.spoof, 1007, 'the claimed origin was ignored');
    const prompts = readFileSync(demo.pinLog, 'utf8').trim().split('\n');
    // One dialog: the refusal stands, so neither road nor the spoof asks again.
    assert.equal(prompts.length, 1, prompts.join('\n'));
    for (const p of prompts) {
      assert.ok(p.startsWith('CONFIRM Allow ' + other.origin + ' to use your cards?'), p);
    }

    // Without the host's manifest, the page hears what Chromium said.
    rmSync(path.join(ctx.userDataDir, 'NativeMessagingHosts', 'app.cardbridge.json'));
    const missing = await page.evaluate(async () => {
      const sdk = await import('/sdk.js');
      try {
        await sdk.connect({ transports: ['extension'], launch: false });
        return { code: 'connected' };
      } catch (e) {
        return { code: e.code, reason: e.reason };
      }
    });
    assert.equal(missing.code, 2003, JSON.stringify(missing));
    assert.match(missing.reason, /could not be started: Specified native messaging host not found/);
  } finally {
    await ctx.close();
    other.close();
    await demo.stop();
  }
});

test('several SDK clients in a page and in its frames each hear their own answers', { timeout: 120000 }, async () => {
  const sites = await multiClientSites();
  const demo = await startDemo(['--allow-origin', sites.main, '--allow-origin', sites.other]);
  const ctx = await launchWithExtension(demo.env);
  try {
    await checkClients(await ctx.newPage(), sites, demo);
  } finally {
    await ctx.close();
    sites.close();
    await demo.stop();
  }
});

test('a page may hold 32 connections at once, and hears why a 33rd is refused', { timeout: 120000 }, async () => {
  const demo = await startDemo();
  const site = await staticServer({ '/': ['text/html', '<!doctype html><title>many</title>'] });
  const ctx = await launchWithExtension(demo.env);
  try {
    const page = await ctx.newPage();
    await page.goto(site.origin);
    const res = await page.evaluate(() => new Promise((resolve) => {
      const answers = new Map();
      const post = (type, conn) => window.postMessage({ cardbridge: 'page', type, conn }, location.origin);
      let reopened = null;
      window.addEventListener('message', (ev) => {
        const d = ev.data;
        if (!d || d.cardbridge !== 'extension' || !['ready', 'error'].includes(d.type)) return;
        if (d.conn === 'again') { reopened = d.type; return; }
        answers.set(d.conn, d.type === 'ready' ? 'ready' : d.reason);
        if (answers.size === 33) {
          // Closing one makes room for another.
          post('close', 'c0');
          setTimeout(() => post('open', 'again'), 200);
          setTimeout(() => resolve({ answers: [...answers.values()], reopened }), 5000);
        }
      });
      for (let i = 0; i < 33; i++) post('open', 'c' + i);
    }));
    const ready = res.answers.filter((a) => a === 'ready').length;
    const refused = res.answers.filter((a) => a !== 'ready');
    assert.equal(ready, 32, JSON.stringify(res));
    assert.equal(refused.length, 1);
    assert.match(refused[0], /already has 32 connections to cardbridge open/);
    assert.equal(res.reopened, 'ready');
  } finally {
    await ctx.close();
    site.close();
    await demo.stop();
  }
});
