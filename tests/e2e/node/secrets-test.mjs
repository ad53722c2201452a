// An application using @azure/identity's DefaultAzureCredential and @azure/keyvault-secrets exactly as it would
// against Azure (configured by the environment alone: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
// AZURE_AUTHORITY_HOST; the server's CA through NODE_EXTRA_CA_CERTS). Every operation of SecretClient, each
// checked for what Key Vault answers. Usage: node secrets-test.mjs VAULT_URL
import assert from 'node:assert/strict';
import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

const [url] = process.argv.slice(2);
const client = new SecretClient(url, new DefaultAzureCredential());
const fast = { intervalInMs: 50 };
const run = Date.now().toString(36);
const name = (s) => `${s}-${run}`;
let step = '';
const check = async (what, fn) => { step = what; await fn(); console.log(`ok - ${what}`); };
const all = async (iter) => { const out = []; for await (const x of iter) out.push(x); return out; };

try {
  const conn = name('conn');
  let v1, v2;
  await check('setSecret (two versions) and getSecret', async () => {
    v1 = await client.setSecret(conn, 'Server=db1;Password=one', { contentType: 'text/plain', tags: { env: 'test' } });
    assert.equal(v1.value, 'Server=db1;Password=one');
    assert.equal(v1.properties.contentType, 'text/plain');
    assert.equal(v1.properties.tags.env, 'test');
    assert.equal(v1.properties.enabled, true);
    assert.equal(v1.properties.recoveryLevel, 'Recoverable+Purgeable');
    assert.match(v1.properties.version, /^[0-9a-f]{32}$/);
    v2 = await client.setSecret(conn, 'Server=db1;Password=two ✓');
    assert.notEqual(v2.properties.version, v1.properties.version);
    assert.equal((await client.getSecret(conn)).value, 'Server=db1;Password=two ✓');
    assert.equal((await client.getSecret(conn, { version: v1.properties.version })).value, 'Server=db1;Password=one');
  });
  await check('getSecret of an unknown secret is 404 SecretNotFound', async () => {
    await assert.rejects(client.getSecret(name('none')), (e) => e.statusCode === 404 && e.code === 'SecretNotFound');
  });
  await check('listPropertiesOfSecrets and listPropertiesOfSecretVersions (no values)', async () => {
    const names = (await all(client.listPropertiesOfSecrets())).map((p) => p.name);
    assert.ok(names.includes(conn), names.join(','));
    const versions = await all(client.listPropertiesOfSecretVersions(conn));
    assert.deepEqual(versions.map((p) => p.version).sort(), [v1.properties.version, v2.properties.version].sort());
    for (const p of versions) assert.equal(p.value, undefined);
  });
  await check('updateSecretProperties: contentType, tags, enabled (a disabled one is 403 on get)', async () => {
    const p = await client.updateSecretProperties(conn, v2.properties.version, { contentType: 'application/x-conn', tags: { owner: 'ops' } });
    assert.equal(p.contentType, 'application/x-conn');
    assert.equal(p.tags.owner, 'ops');
    await client.updateSecretProperties(conn, v2.properties.version, { enabled: false });
    await assert.rejects(client.getSecret(conn), (e) => e.statusCode === 403);
    await client.updateSecretProperties(conn, v2.properties.version, { enabled: true });
    assert.equal((await client.getSecret(conn)).value, 'Server=db1;Password=two ✓');
  });
  let backup;
  await check('backupSecret', async () => {
    backup = await client.backupSecret(conn);
    assert.ok(backup.length > 64);
    assert.ok(!Buffer.from(backup).toString('latin1').includes('Password=two'));
  });
  await check('beginDeleteSecret, getDeletedSecret, listDeletedSecrets, beginRecoverDeletedSecret', async () => {
    const deleted = await (await client.beginDeleteSecret(conn, fast)).pollUntilDone();
    assert.match(deleted.recoveryId, /\/deletedsecrets\//);
    assert.ok(deleted.deletedOn instanceof Date);
    assert.ok(deleted.scheduledPurgeDate > deleted.deletedOn);
    assert.equal((await client.getDeletedSecret(conn)).name, conn);
    assert.ok((await all(client.listDeletedSecrets())).some((d) => d.name === conn));
    await (await client.beginRecoverDeletedSecret(conn, fast)).pollUntilDone();
    assert.equal((await client.getSecret(conn)).value, 'Server=db1;Password=two ✓');
  });
  await check('purgeDeletedSecret, then restoreSecretBackup brings every version back', async () => {
    await (await client.beginDeleteSecret(conn, fast)).pollUntilDone();
    await client.purgeDeletedSecret(conn);
    await assert.rejects(client.getDeletedSecret(conn), (e) => e.statusCode === 404);
    const restored = await client.restoreSecretBackup(backup);
    assert.equal(restored.name, conn);
    assert.equal((await client.getSecret(conn, { version: v1.properties.version })).value, 'Server=db1;Password=one');
    assert.equal((await all(client.listPropertiesOfSecretVersions(conn))).length, 2);
  });
  await check('a value over 25 KB is 400', async () => {
    await assert.rejects(client.setSecret(name('big'), 'x'.repeat(25601)), (e) => e.statusCode === 400 && /25 KB/.test(e.message));
  });
  console.log('PASS');
} catch (e) {
  console.error(`FAIL in ${step}: ${e.stack || e}`);
  process.exit(1);
}
