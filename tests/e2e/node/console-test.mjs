// The web console in headless Chromium (Debian's, driven by playwright-core; no browser download).
// Usage: node console-test.mjs URL ADMIN_TOKEN READER_TOKEN SHOTS_DIR SECRETS_USER_TOKEN
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [url, admin, reader, shots, secretsUser] = process.argv.slice(2);
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
  await check('the vault: its region, and the toolsets with their SHA-256', async () => {
    await page.click('#nav button[data-view="vault"]');
    await page.locator('#toolset-table tbody tr').first().waitFor();
    assert.match(await page.textContent('#vault-props'), /dev.*DEV/s);
    const row = await page.locator('#toolset-table tbody tr').first().locator('td').allTextContents();
    assert.equal(row[0], 'DEV');
    assert.match(row[1], /^KeyVault-BYOK-Tools-DEV\.zip$/);
    assert.match(row[2], /^[0-9A-Fa-f]{64}$/);
    await page.screenshot({ path: `${shots}/vault.png`, fullPage: true });
    await page.click('#nav button[data-view="keys"]');
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
  await check('tags, expiry and a rotation policy set from the detail view', async () => {
    await page.fill('#edit-tags', 'team=payments\nenv=<test>');
    await page.fill('#edit-exp', '2030-01-02T03:04');
    await page.click('#edit-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('detail-props').textContent.includes('team=payments'));
    assert.match(await page.textContent('#detail-props'), /env=<test>/);
    assert.match(await page.textContent('#detail-props'), /2030-01-0[12]T/);
    await page.fill('#policy-days', '30');
    await page.click('#policy-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('policy-now').textContent.includes('P30D'));
  });
  await check('a backup downloaded, the key purged, the backup uploaded: the key is back with both versions', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#backup')]);
    const backup = await download.path();
    await page.click('#delete');
    await page.locator('#deleted-table tbody tr', { hasText: 'console-ec' }).waitFor();
    const purge = await fetch(`${url}/deletedkeys/console-ec?api-version=7.5`, { method: 'DELETE', headers: { Authorization: `Bearer ${admin}` } });
    assert.equal(purge.status, 204);
    await page.setInputFiles('#restore-file', backup);
    await page.click('#restore-form button[type=submit]');
    await page.locator('#detail-h', { hasText: 'console-ec' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#version-table tbody tr').length === 2);
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
  await check('purge, only once the name is typed', async () => {
    await page.fill('#new-name', 'console-doomed');
    await page.click('#create-form button[type=submit]');
    await page.getByRole('button', { name: 'console-doomed', exact: true }).click();
    await page.locator('#detail').waitFor();
    await page.click('#delete');
    await page.getByRole('button', { name: 'Purge console-doomed' }).click();
    assert.match(await page.textContent('#status'), /type its name/);
    assert.equal(await page.locator('#deleted-table tbody tr', { hasText: 'console-doomed' }).count(), 1);
    await page.fill('#purge-confirm', 'console-doomed');
    await page.getByRole('button', { name: 'Purge console-doomed' }).click();
    await page.waitForFunction(() => !document.getElementById('deleted-table').textContent.includes('console-doomed'));
    const gone = await fetch(`${url}/deletedkeys/console-doomed?api-version=7.5`, { headers: { Authorization: `Bearer ${admin}` } });
    assert.equal(gone.status, 404);
  });
  await check('BYOK: an import KEK made here, its public key downloaded, a .byok for it uploaded, the key signing as itself', async () => {
    await page.click('#nav button[data-view="byok"]');
    await page.fill('#kek-name', 'console-kek');
    await page.click('#kek-form button[type=submit]');
    await page.locator('#detail-h', { hasText: 'console-kek' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const kekPem = fs.readFileSync(await download.path(), 'utf8');
    const kid = await page.locator('#detail-props dd').first().textContent();
    // The key owner's side, as the BYOK e2e flow does with openssl: CKM_RSA_AES_KEY_WRAP of a PKCS#8 EC key.
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const transport = crypto.randomBytes(32);
    const head = crypto.publicEncrypt({ key: kekPem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, transport);
    const kwp = crypto.createCipheriv('id-aes256-wrap-pad', transport, Buffer.from('A65959A6', 'hex'));
    const body = Buffer.concat([kwp.update(privateKey.export({ type: 'pkcs8', format: 'der' })), kwp.final()]);
    const byok = JSON.stringify({ schema_version: '1.0.0', header: { kid, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' },
                                  ciphertext: Buffer.concat([head, body]).toString('base64url'), generator: 'console-test' });
    await page.click('#nav button[data-view="byok"]');
    await page.setInputFiles('#byok-file', { name: 'owner-key.byok', mimeType: 'application/json', buffer: Buffer.from(byok) });
    await page.fill('#byok-name', 'console-byok');
    await page.selectOption('#byok-kty', 'EC-HSM');
    await page.screenshot({ path: `${shots}/byok.png`, fullPage: true });
    await page.click('#byok-form button[type=submit]');
    await page.locator('#detail-h', { hasText: 'console-byok' }).waitFor();
    const digest = crypto.createHash('sha256').update('signed after a console upload').digest();
    const res = await fetch(`${url}/keys/console-byok/sign?api-version=7.5`, {
      method: 'POST', headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ alg: 'ES256', value: digest.toString('base64url') }) });
    assert.equal(res.status, 200);
    const sig = Buffer.from((await res.json()).value, 'base64url');
    assert.ok(crypto.verify('sha256', Buffer.from('signed after a console upload'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  });
  await check('the audit trail shows each action, the chain shown as verified, and filters', async () => {
    await page.click('#nav button[data-view="audit"]');
    await page.waitForFunction(() => document.getElementById('chain').textContent.includes('verified'));
    assert.match(await page.textContent('#chain'), /Audit chain verified: \d+ entries/);
    for (const [op, target] of [['CreateKey', 'console-ec'], ['RotateKey', 'console-ec'], ['DeleteKey', 'console-ec'],
                                ['RecoverDeletedKey', 'console-ec'], ['ImportKey', 'console-byok'], ['CreateKey', 'console-kek'],
                                ['GetKey', '\uFFFD\uFFFD']]) {
      const rows = page.locator('#audit-table tbody tr', { hasText: op }).filter({ hasText: target });
      assert.ok(await rows.count() >= 1, `no ${op} of ${target} in the audit view`);
    }
    await page.selectOption('#f-op', 'RotateKey');
    await page.click('#audit-filter button[type=submit]');
    const ops = await page.locator('#audit-table tbody tr td:nth-child(4)').allTextContents();
    assert.ok(ops.length >= 1 && ops.every((o) => o === 'RotateKey'), `filtered: ${ops}`);
    await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });
    await page.click('#nav button[data-view="keys"]');
    await keyRow(page, 'console-ec').waitFor();
  });
  await check('secrets: listed without values, one shown only when asked, one set and deleted', async () => {
    await page.click('#nav button[data-view="secrets"]');
    const row = page.locator('#secret-table tbody tr', { hasText: 'console-secret' });
    await row.waitFor();
    assert.equal(await page.locator('body').textContent().then((t) => t.includes('console-value-7f3a')), false);
    await page.getByRole('button', { name: 'Show console-secret', exact: true }).click();
    await page.waitForFunction(() => document.getElementById('secret-table').textContent.includes('console-value-7f3a'));
    await page.fill('#secret-name', 'set-in-console');
    await page.fill('#secret-value', 'typed <b>value</b>');
    await page.click('#secret-form button[type="submit"]');
    await page.locator('#secret-table tbody tr', { hasText: 'set-in-console' }).waitFor();
    await page.getByRole('button', { name: 'Show set-in-console', exact: true }).click();
    await page.waitForFunction(() => document.getElementById('secret-table').textContent.includes('typed <b>value</b>'));
    assert.equal(await page.locator('#secret-table b').count(), 0); // text, never markup
    await page.screenshot({ path: `${shots}/secrets.png`, fullPage: true });
    await page.getByRole('button', { name: 'Delete set-in-console', exact: true }).click();
    await page.waitForFunction(() => !document.getElementById('secret-table').textContent.includes('set-in-console'));
    await page.click('#nav button[data-view="keys"]');
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
    assert.equal(await r.page.locator('#nav button[data-view="byok"]').isVisible(), false);
    assert.equal(await r.page.locator('#nav button[data-view="audit"]').isVisible(), false);
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
  await check('a Reader lists secrets but has no control that shows a value', async () => {
    await r.page.click('#nav button[data-view="secrets"]');
    await r.page.locator('#secret-table tbody tr', { hasText: 'console-secret' }).waitFor();
    assert.equal(await r.page.getByRole('button', { name: 'Show console-secret' }).count(), 0);
    assert.equal(await r.page.locator('#secret-form').isVisible(), false);
  });
  assert.deepEqual(r.problems.filter((p) => !/403/.test(p)), []);

  const s = await open();
  await check('a Secrets User lands on the secrets, reads a value, and has no keys view', async () => {
    await signIn(s.page, secretsUser, 'Secrets User');
    await s.page.locator('#secret-table tbody tr', { hasText: 'console-secret' }).waitFor();
    assert.equal(await s.page.locator('#nav button[data-view="keys"]').isVisible(), false);
    assert.equal(await s.page.locator('#secret-form').isVisible(), false);
    await s.page.getByRole('button', { name: 'Show console-secret', exact: true }).click();
    await s.page.waitForFunction(() => document.getElementById('secret-table').textContent.includes('console-value-7f3a'));
  });
  assert.deepEqual(s.problems, []);

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
    await a.page.click('#nav button[data-view="byok"]');
    await audit('BYOK');
    await a.page.click('#nav button[data-view="secrets"]');
    await a.page.locator('#secret-table tbody tr').first().waitFor();
    await audit('secrets');
    await a.page.click('#nav button[data-view="vault"]');
    await a.page.locator('#toolset-table tbody tr').first().waitFor();
    await audit('vault');
    await a.page.click('#nav button[data-view="audit"]');
    await a.page.waitForFunction(() => document.getElementById('chain').textContent.includes('verified'));
    await audit('audit');
  });
  console.log('PASS');
} catch (e) {
  console.error(`FAIL at ${step}:`, e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
