// Firefox for the browser tests: Debian's firefox-esr as apt installs it,
// and the oldest ESR the extension supports, unpacked from the Debian
// archive into a cache outside the tree (fetch-firefox-esr.sh). Both are
// driven headless by puppeteer-core over WebDriver BiDi, with the extension
// installed as a temporary add-on.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extensionDir, root } from './helpers.mjs';

export const OLD_ESR = '140.12.0esr-1~deb12u1';

function executable(p) {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function version(exe) {
  const out = execFileSync(exe, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 30000 }).toString();
  return (out.match(/Firefox ([\d.]+\S*)/) || [])[1] || out.trim();
}

/**
 * The Firefox builds to test, each { name, exe, version } or { name, skip }
 * with the reason it cannot run here.
 */
export function firefoxBuilds() {
  const builds = [];
  const current = process.env.FIREFOX || '/usr/lib/firefox-esr/firefox-esr';
  if (!executable(current)) {
    builds.push({ name: 'Firefox ESR (apt)', skip: `${current} is missing; installer/deps.sh test installs firefox-esr` });
    builds.push({ name: `Firefox ESR ${OLD_ESR}`, skip: 'firefox-esr is missing, so its libraries are too' });
    return builds;
  }
  builds.push({ name: `Firefox ${version(current)} (apt)`, exe: current });
  let old = null;
  let why = '';
  try {
    old = execFileSync(path.join(root, 'web-extension', 'test', 'fetch-firefox-esr.sh'), [OLD_ESR],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300000 }).toString().trim();
  } catch (e) {
    why = (e.stderr || '').toString().trim() || e.message;
  }
  if (old && executable(old)) builds.push({ name: `Firefox ${version(old)} (unpacked)`, exe: old });
  else builds.push({ name: `Firefox ESR ${OLD_ESR}`, skip: `cannot unpack it from the Debian archive: ${why}` });
  return builds;
}

/** The Firefox build of the extension: the same sources, its own manifest. */
export function firefoxExtension() {
  const dir = mkdtempSync(path.join(tmpdir(), 'cardbridge-firefox-ext-'));
  for (const f of ['background.js', 'content.js']) copyFileSync(path.join(extensionDir, f), path.join(dir, f));
  copyFileSync(path.join(extensionDir, 'manifest.firefox.json'), path.join(dir, 'manifest.json'));
  return dir;
}

/**
 * Launches headless Firefox in env (its HOME holds the native messaging
 * manifest `cardbridge install --user` wrote) with the extension installed.
 */
export async function launchFirefox(exe, env) {
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({ browser: 'firefox', executablePath: exe, headless: true, env });
  try {
    await browser.installExtension(firefoxExtension());
  } catch (e) {
    await browser.close();
    throw e;
  }
  return browser;
}

/**
 * Wraps a puppeteer page in the few playwright calls runWizard makes, so
 * that both browsers walk the very same wizard.
 */
export function asPlaywright(page) {
  return {
    selectOption: (sel, v) => page.select(sel, v),
    click: (sel) => page.click(sel),
    waitForSelector: (sel, o) => page.waitForSelector(sel, o),
    textContent: (sel) => page.$eval(sel, (e) => e.textContent),
    fill: (sel, v) => page.$eval(sel, (e, value) => {
      e.value = value;
      e.dispatchEvent(new Event('input', { bubbles: true }));
      e.dispatchEvent(new Event('change', { bubbles: true }));
    }, v),
  };
}
