// Shared helpers of the browser tests: they run the real cardbridge binary
// on a SoftHSM2 demo card and drive Debian's Chromium with playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const binary = process.env.CARDBRIDGE_BIN || path.join(root, 'bin', 'cardbridge');
export const pinentry = path.join(root, 'testdata', 'pinentry-script');
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

/** Starts `cardbridge demo` in a fresh HOME and waits for its banner. */
export async function startDemo(extraArgs = [], extraEnv = {}) {
  const home = mkdtempSync(path.join(tmpdir(), 'cardbridge-home-'));
  const dataHome = path.join(home, '.local', 'share');
  mkdirSync(dataHome, { recursive: true });
  mkdirSync(path.join(home, 'run'), { recursive: true, mode: 0o700 });
  const pinLog = path.join(home, 'pinentry.log');
  const env = {
    ...process.env,
    HOME: home,
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    XDG_DATA_HOME: dataHome,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    CB_TEST_PIN_FILE: path.join(dataHome, 'cardbridge', 'demo', 'demo-card-pin.txt'),
    CB_TEST_PINENTRY_LOG: pinLog,
    ...extraEnv,
  };
  const proc = spawn(binary, ['demo', '--pinentry', pinentry, '--listen', '127.0.0.1:0', '--portal', '127.0.0.1:0', ...extraArgs], { env });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const banner = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('demo did not start:\n' + out + err)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Press Ctrl-C')) { clearTimeout(timer); resolve(out); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`demo exited with ${code}:\n${out}${err}`)); });
  });
  const field = (name) => (banner.match(new RegExp(name + ':\\s+(\\S+)')) || [])[1];
  return {
    proc, home, env, pinLog,
    portal: field('Demo portal'),
    api: field('cardbridge'),
    serial: field('Demo card'),
    pin: field('Card PIN'),
    softhsmConf: path.join(dataHome, 'cardbridge', 'demo', 'softhsm', 'softhsm2.conf'),
    logs: () => err,
    stop: () => new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGTERM'); }),
  };
}

/** Launches headless Chromium the way this machine allows. */
export async function launchBrowser(args = [], options = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...args],
    ...options,
  });
}

/** Lists objects on the SoftHSM2 card with OpenSC's pkcs11-tool. */
export function listObjects(demo, type) {
  const module = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => {
    try { execFileSync('test', ['-e', p]); return true; } catch { return false; }
  });
  return execFileSync('pkcs11-tool', ['--module', module, '--token-label', 'cardbridge demo', '--login', '--pin', demo.pinValue,
    '--list-objects', '--type', type], { env: { ...process.env, SOFTHSM2_CONF: demo.softhsmConf } }).toString();
}

/** Serves files on 127.0.0.1 or localhost from a map of path → [type, body]. */
export async function staticServer(files, host = '127.0.0.1') {
  const http = await import('node:http');
  const srv = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f[0] });
    res.end(f[1]);
  });
  await new Promise((r) => srv.listen(0, host, r));
  return { origin: `http://${host}:${srv.address().port}`, close: () => srv.close() };
}

export const extensionDir = path.join(root, 'web-extension', 'extension');
export const sdkSource = () => readFileSync(path.join(root, 'web-extension', 'sdk', 'cardbridge.js'));

/** Writes the native messaging host manifest into a Chromium user data dir. */
export function nativeHostManifest(userDataDir) {
  const dir = path.join(userDataDir, 'NativeMessagingHosts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'app.cardbridge.json'), JSON.stringify({
    name: 'app.cardbridge', description: 'cardbridge', path: binary, type: 'stdio',
    allowed_origins: ['chrome-extension://lbbliobokjckpakbilehjmlondngalee/'],
  }));
}

/** Launches Chromium with the unpacked extension and a fresh profile. */
export async function launchWithExtension(env) {
  const { chromium } = await import('playwright-core');
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'cardbridge-chromium-'));
  nativeHostManifest(userDataDir);
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    env,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
  });
  ctx.userDataDir = userDataDir;
  return ctx;
}

/** Walks the demo portal's activation wizard, from name and e-mail to test signature. */
export async function runWizard(page, algorithm) {
  await page.fill('#cn', 'Alice Example');
  await page.fill('#email', 'alice@example.org');
  await page.click('#details');
  await page.waitForSelector('#step2[data-state="active"]');
  await page.selectOption('#algorithm', algorithm);
  for (const [button, next] of [['#generate', '#step3'], ['#install', '#step4']]) {
    await page.click(button);
    await page.waitForSelector(next + '[data-state="active"]');
  }
  await page.click('#sign');
  await page.waitForSelector('#sign-result.ok');
}
