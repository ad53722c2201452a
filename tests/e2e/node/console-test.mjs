// The web console in headless Chromium (Debian's, driven by playwright-core; no browser download).
// Usage: node console-test.mjs URL ADMIN_TOKEN READER_TOKEN SHOTS_DIR
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [url, admin, reader, shots] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
fs.mkdirSync(shots, { recursive: true });
let step = '';
const check = async (what, fn) => { step = what; await fn(); console.log(`ok - ${what}`); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

// A page of its own context; every page error or CSP report fails the test.
async function open(options = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => { problems.push(`a dialog opened: ${d.message()}`); d.dismiss(); });
  const response = await page.goto(`${url}/console/`);
  return { page, context, problems, response };
}

async function signIn(page, token, role) {
  await page.focus('#token');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter'); // the keyboard alone signs in
  await page.waitForFunction((r) => document.getElementById('who').textContent.includes(`role ${r}`), role);
}

const keyRow = (page, name) => page.locator('#key-table tbody tr', { has: page.getByRole('button', { name, exact: true }) });

try {
  const { page, problems, response } = await open();
  await check('every console response carries the CSP: no inline script, no eval, no framing', async () => {
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const other = await page.context().newPage();
    for (const file of ['app.js', 'app.css', 'missing.js']) {
      const r = await other.goto(`${url}/console/${file}`);
      assert.match(r.headers()['content-security-policy'] || '', /default-src 'none'/, file);
    }
    const html = await (await other.goto(`${url}/console/`)).text();
    await other.close();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'an inline script in index.html');
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'an inline event handler in index.html');
  });
  await check('sign in with a token (kept in memory: no cookie, no storage)', async () => {
    await signIn(page, admin, 'Administrator');
    const state = await page.context().storageState();
    assert.equal(state.cookies.length, 0);
    const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
    assert.equal(stored, 0);
  });
  await check('create an EC key and see it listed', async () => {
    await page.fill('#new-name', 'console-ec');
    await page.selectOption('#new-kty', 'EC');
    await page.click('#create-form button[type=submit]');
    await keyRow(page, 'console-ec').waitFor();
    await page.screenshot({ path: `${shots}/keys.png`, fullPage: true });
  });
  await check('rotate it and see two versions', async () => {
    await page.getByRole('button', { name: 'console-ec', exact: true }).click();
    await page.locator('#detail').waitFor();
    assert.equal(await page.locator('#version-table tbody tr').count(), 1);
    await page.click('#rotate');
    await page.waitForFunction(() => document.querySelectorAll('#version-table tbody tr').length === 2);
    await page.screenshot({ path: `${shots}/key-detail.png`, fullPage: true });
  });
  await check('a key tag holding <script> and quotes renders as text', async () => {
    await page.click('#back');
    await keyRow(page, 'tagged').waitFor();
    const cell = keyRow(page, 'tagged').locator('td').nth(4);
    assert.equal(await cell.textContent(), `note=<script>alert("x")</script>'"`);
    assert.equal(await page.locator('#key-table script').count(), 0);
  });
  await check('delete and recover', async () => {
    await page.getByRole('button', { name: 'console-ec', exact: true }).click();
    await page.locator('#detail').waitFor();
    await page.click('#delete');
    await page.locator('#deleted-table tbody tr', { hasText: 'console-ec' }).waitFor();
    assert.equal(await keyRow(page, 'console-ec').count(), 0);
    await page.screenshot({ path: `${shots}/deleted.png`, fullPage: true });
    await page.getByRole('button', { name: 'Recover console-ec' }).click();
    await keyRow(page, 'console-ec').waitFor();
  });
  await check('readable on a narrow window', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    await page.screenshot({ path: `${shots}/keys-narrow.png`, fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the window`);
  });
  assert.deepEqual(problems, []);

  const r = await open();
  await check('a Reader sees keys but no controls to change them; a forced request is refused plainly', async () => {
    await signIn(r.page, reader, 'Reader');
    await keyRow(r.page, 'console-ec').waitFor();
    assert.equal(await r.page.locator('#create-form').isVisible(), false);
    await r.page.getByRole('button', { name: 'console-ec', exact: true }).click();
    await r.page.locator('#detail').waitFor();
    assert.equal(await r.page.locator('#rotate').isVisible(), false);
    assert.equal(await r.page.locator('#delete').isVisible(), false);
    // Unhide the rotate control, as a user with the developer tools could, and use it: the server refuses.
    await r.page.evaluate(() => document.querySelectorAll('.needs-write').forEach((e) => { e.hidden = false; }));
    await r.page.click('#rotate');
    await r.page.waitForFunction(() => document.getElementById('status').classList.contains('error'));
    assert.match(await r.page.textContent('#status'), /403 Forbidden/);
    assert.equal(await r.page.locator('#version-table tbody tr').count(), 2);
    await r.page.screenshot({ path: `${shots}/reader-refused.png`, fullPage: true });
  });
  assert.deepEqual(r.problems.filter((p) => !/403/.test(p)), []);

  // axe-core runs inside the page; only this context lets a test inject it past the page's own CSP.
  const a = await open({ bypassCSP: true });
  await check('accessibility (axe-core): no serious or critical violation in any view', async () => {
    const audit = async (view) => {
      await a.page.addScriptTag({ content: axeSource });
      const result = await a.page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'best-practice'] }));
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${view}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target).join(' ')}`), []);
    };
    await audit('sign-in');
    await signIn(a.page, admin, 'Administrator');
    await keyRow(a.page, 'console-ec').waitFor();
    await audit('keys');
    await a.page.getByRole('button', { name: 'console-ec', exact: true }).click();
    await a.page.locator('#detail').waitFor();
    await audit('key detail');
  });
  console.log('PASS');
} catch (e) {
  console.error(`FAIL at ${step}:`, e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
