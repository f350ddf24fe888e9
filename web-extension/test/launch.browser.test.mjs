// The launch road: nothing runs; the SDK opens cardbridge://start, Chromium
// hands it to xdg-open (allowed by the AutoLaunchProtocolsFromOrigins
// managed policy), xdg-open runs `cardbridge open` as registered by
// `cardbridge install --user`, and the page's retry connects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binary, pinentry, launchBrowser, staticServer, sdkSource } from './helpers.mjs';

const policyDir = '/etc/chromium/policies/managed';

function canWritePolicy() {
  try {
    mkdirSync(policyDir, { recursive: true });
    accessSync(policyDir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

test('the SDK launches cardbridge through a cardbridge:// link', { timeout: 120000 }, async (t) => {
  if (!canWritePolicy()) {
    if (process.env.CI) assert.fail(`CI must be able to write ${policyDir}`);
    t.skip(`needs write access to ${policyDir}`);
    return;
  }
  const home = mkdtempSync(path.join(tmpdir(), 'cardbridge-launch-'));
  const run = path.join(home, 'run');
  mkdirSync(run, { mode: 0o700 });
  const hsm = path.join(home, 'softhsm');
  mkdirSync(path.join(hsm, 'tokens'), { recursive: true });
  writeFileSync(path.join(hsm, 'softhsm2.conf'), `directories.tokendir = ${hsm}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // Other programs may hold 47150-47154: the daemon the link starts
  // listens on a free port, which the page's SDK is told.
  const port = await freePort();
  const env = {
    ...process.env, CARDBRIDGE_LISTEN: `127.0.0.1:${port}`, HOME: home, XDG_RUNTIME_DIR: run, XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'), XDG_STATE_HOME: path.join(home, '.local', 'state'),
    DISPLAY: ':99', DBUS_SESSION_BUS_ADDRESS: '', SOFTHSM2_CONF: path.join(hsm, 'softhsm2.conf'),
    CARDBRIDGE_PINENTRY: pinentry, CB_TEST_PIN: '123456', CB_TEST_PINENTRY_LOG: path.join(home, 'pinentry.log'),
  };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'launch card', '--pin', '123456', '--so-pin', '12345678'], { env });
  execFileSync(binary, ['install', '--user'], { env });

  const page = `<!doctype html><title>portal</title>
    <button id="go">Use my card</button><pre id="out"></pre>
    <script type="module">
      import { connect } from '/sdk.js';
      document.getElementById('go').onclick = async () => {
        try {
          const cb = await connect({ transports: ['websocket'], ports: [${port}], launchTimeoutMs: 15000 });
          const { readers } = await cb.listCards();
          document.getElementById('out').textContent = 'ok ' + readers.filter((r) => r.card).map((r) => r.card.label).join(',');
        } catch (e) {
          document.getElementById('out').textContent = 'error ' + e.code + ' ' + e.message;
        }
      };
    </script>`;
  const site = await staticServer({ '/': ['text/html', page], '/sdk.js': ['text/javascript', sdkSource()] });
  const policyFile = path.join(policyDir, 'cardbridge-test.json');
  writeFileSync(policyFile, JSON.stringify({ AutoLaunchProtocolsFromOrigins: [{ protocol: 'cardbridge', allowed_origins: [site.origin] }] }));
  const browser = await launchBrowser([], { env });
  try {
    const p = await browser.newPage();
    await p.goto(site.origin);
    await p.click('#go');
    await p.waitForFunction(() => document.getElementById('out').textContent !== '', null, { timeout: 30000 });
    assert.equal(await p.textContent('#out'), 'ok launch card');
    // The daemon was started by the link, through xdg-open.
    const log = readFileSync(path.join(home, '.local', 'state', 'cardbridge', 'cardbridge.log'), 'utf8');
    assert.match(log, /link: start/);
  } finally {
    await browser.close();
    site.close();
    rmSync(policyFile, { force: true });
    await stopDaemon(path.join(run, 'cardbridge', 'control.sock'));
    execFileSync(binary, ['uninstall'], { env });
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// stopDaemon asks the daemon behind this test's control socket for its pid
// and ends that process: never a process found by name.
function stopDaemon(sock) {
  return new Promise((resolve) => {
    const c = net.createConnection(sock, () => c.write('{"type":"ping"}\n'));
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      if (!buf.includes('\n')) return;
      try { process.kill(JSON.parse(buf).pid, 'SIGTERM'); } catch { /* gone */ }
      c.destroy();
      resolve();
    });
    c.on('error', () => resolve());
  });
}
