// The official Azure SDK, unchanged, against three Strongroom servers over one database: a key created
// through node 1 signs through node 2 (verified here against node 1's public key), is deleted through
// node 3, and is gone through node 1 at once. Usage: node sdk-nodes.mjs URL1 URL2 URL3 TOKEN
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { KeyClient, CryptographyClient } from '@azure/keyvault-keys';

const [url1, url2, url3, token] = process.argv.slice(2);
const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) };
const name = `across-${Date.now().toString(36)}`;
try {
  const created = await new KeyClient(url1, credential).createRsaKey(name, { keySize: 2048 });
  console.log('ok - created through node 1');
  const onNode2 = created.id.replace(new URL(created.id).origin, new URL(url2).origin);
  const data = Buffer.from('signed on another node');
  const digest = crypto.createHash('sha256').update(data).digest();
  const signed = await new CryptographyClient(onNode2, credential).sign('RS256', digest);
  const pub = crypto.createPublicKey({ format: 'jwk', key: { kty: 'RSA',
    n: Buffer.from(created.key.n).toString('base64url'), e: Buffer.from(created.key.e).toString('base64url') } });
  assert.equal(crypto.verify('sha256', data, pub, Buffer.from(signed.result)), true);
  console.log('ok - signed through node 2, verified against node 1\'s key');
  const poller = await new KeyClient(url3, credential).beginDeleteKey(name, { updateIntervalInMs: 50 });
  await poller.pollUntilDone();
  console.log('ok - deleted through node 3');
  await assert.rejects(new KeyClient(url1, credential).getKey(name), (e) => e.statusCode === 404);
  const deleted = await new KeyClient(url1, credential).getDeletedKey(name);
  assert.equal(deleted.name, name);
  console.log('ok - gone through node 1 at once, and listed as deleted there');
} catch (e) {
  console.error(`not ok - ${e.stack || e}`);
  process.exit(1);
}
