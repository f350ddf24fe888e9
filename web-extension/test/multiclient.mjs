// A portal with several SDK clients in its page and in two frames (one of
// its own origin, one of another), all on the extension road at once. Used
// by the Chromium and the Firefox tests alike.
import assert from 'node:assert/strict';
import { staticServer, sdkSource } from './helpers.mjs';

export const CLIENTS_PER_FRAME = 3;
const ROUNDS = 4;

// Every client asks for a card that does not exist, under a name of its
// own; cardbridge names it in the error. So an answer that reached the
// wrong client shows, though all of them number their requests from 1.
// Each frame posts its results to the page, which gathers them all; a
// classic script, so that it listens before any frame can finish.
const clientPage = (frames) => `<!doctype html><title>clients</title>
<script>
window.all = [];
window.addEventListener('message', (e) => { if (e.data && e.data.clients) window.all.push(Object.assign({ from: e.origin }, e.data.clients)); });
</script>
<script type="module">
import { connect } from '/sdk.js';
const name = new URLSearchParams(location.search).get('name') || 'top';
(async () => {
  const clients = await Promise.all(Array.from({ length: ${CLIENTS_PER_FRAME} }, () => connect({ transports: ['extension'], launch: false })));
  const out = [];
  await Promise.all(clients.map(async (c, i) => {
    for (let r = 0; r < ${ROUNDS}; r++) {
      const card = 'nosuch-' + name + '-' + i + '-' + r;
      try {
        await c.listKeys(card);
        out.push('an answer for another client: success for ' + card);
      } catch (e) {
        out.push(e.code === 1004 && e.reason.includes(card + ':') ? 'ok' : 'wrong answer for ' + card + ': ' + e.code + ' ' + e.reason);
      }
      const info = await c.systemInfo();
      out.push(info.name === 'cardbridge' ? 'ok' : 'wrong answer to system.info: ' + JSON.stringify(info));
    }
  }));
  clients.forEach((c) => c.close());
  return { origin: location.origin, transports: clients.map((c) => c.transport), out };
})().catch((e) => ({ origin: location.origin, error: e.code + ' ' + e.message }))
  .then((clients) => (parent === window ? window : parent).postMessage({ clients }, '*'));
</script>
${frames}`;

/** Starts the two origins; the test allows both in cardbridge. */
export async function multiClientSites() {
  const other = await staticServer({
    '/': ['text/html', clientPage('')],
    '/sdk.js': ['text/javascript', sdkSource()],
  }, 'localhost');
  const main = await staticServer({
    '/': ['text/html', clientPage(`<iframe src="/frame?name=same"></iframe><iframe src="${other.origin}/?name=cross"></iframe>`)],
    '/frame': ['text/html', clientPage('')],
    '/sdk.js': ['text/javascript', sdkSource()],
  });
  return { main: main.origin, other: other.origin, close: () => { main.close(); other.close(); } };
}

/**
 * Loads the page and checks every client in every frame: each used the
 * extension and heard only its own answers; the daemon saw each frame's own
 * origin. page is a playwright or a puppeteer page.
 */
export async function checkClients(page, sites, demo) {
  await page.goto(sites.main);
  const deadline = Date.now() + 30000;
  let results = [];
  while (results.length < 3 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    results = await page.evaluate(() => window.all);
  }
  const origins = results.map((r) => r.origin).sort();
  assert.deepEqual(origins, [sites.other, sites.main, sites.main].sort(), JSON.stringify(results));
  for (const r of results) {
    assert.equal(r.from, r.origin, 'posted by the frame it names');
    assert.equal(r.error, undefined, JSON.stringify(r));
    assert.deepEqual(r.transports, Array(CLIENTS_PER_FRAME).fill('extension'));
    assert.deepEqual(r.out, Array(CLIENTS_PER_FRAME * ROUNDS * 2).fill('ok'), r.out.filter((o) => o !== 'ok').join('\n'));
  }
  // The daemon heard each frame's own origin (the browser's word, through
  // the extension): the cross-origin frame's requests came as the other site.
  const lines = demo.logs().split('\n').filter((l) => l.includes('"method":"keys.list"') && l.includes('"via":"extension"'));
  const count = (o) => lines.filter((l) => l.includes(`"origin":"${o}"`)).length;
  assert.deepEqual([count(sites.main), count(sites.other), lines.length], [2 * CLIENTS_PER_FRAME * ROUNDS, CLIENTS_PER_FRAME * ROUNDS, 3 * CLIENTS_PER_FRAME * ROUNDS], lines.join('\n'));
}
