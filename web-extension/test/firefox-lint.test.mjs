// The Firefox build of the extension, checked by Mozilla's own linter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extensionDir, root } from './helpers.mjs';

test('web-ext lint finds nothing in the Firefox extension', { timeout: 120000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cardbridge-firefox-'));
  for (const f of ['background.js', 'content.js']) copyFileSync(path.join(extensionDir, f), path.join(dir, f));
  copyFileSync(path.join(extensionDir, 'manifest.firefox.json'), path.join(dir, 'manifest.json'));
  const webExt = path.join(root, 'web-extension', 'node_modules', '.bin', 'web-ext');
  let out;
  try {
    out = execFileSync(webExt, ['lint', '--source-dir', dir, '--output', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    out = e.stdout.toString();
  }
  const report = JSON.parse(out);
  assert.deepEqual(report.summary, { errors: 0, notices: 0, warnings: 0 }, JSON.stringify(report, null, 2));
});
