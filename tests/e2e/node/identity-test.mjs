// An application that uses @azure/identity's DefaultAzureCredential and @azure/keyvault-keys exactly as it
// would against Azure: no code for Strongroom, configured by the environment alone (AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST), the server's CA trusted through NODE_EXTRA_CA_CERTS. Usage: node identity-test.mjs
// VAULT_URL KEY_NAME [refused-key]: creates an EC key, signs with it, verifies the signature with OpenSSL (node's
// crypto), and, given refused-key, checks that signing with that key is refused 403.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { DefaultAzureCredential } from '@azure/identity';
import { KeyClient, CryptographyClient } from '@azure/keyvault-keys';

const [url, keyName, refusedKey] = process.argv.slice(2);
const credential = new DefaultAzureCredential();
const client = new KeyClient(url, credential);

const key = await client.createEcKey(keyName, { curve: 'P-256' });
assert.equal(key.key.crv, 'P-256');
const data = Buffer.from('signed by an application of the authority');
const digest = crypto.createHash('sha256').update(data).digest();
const signed = await new CryptographyClient(key, credential).sign('ES256', digest);
const pub = crypto.createPublicKey({
  key: { kty: 'EC', crv: 'P-256', x: Buffer.from(key.key.x).toString('base64url'), y: Buffer.from(key.key.y).toString('base64url') },
  format: 'jwk',
});
assert.ok(crypto.verify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, signed.result), 'OpenSSL verifies');
console.log(`ok - ${keyName}: created and signed through ${process.env.AZURE_AUTHORITY_HOST}, verified by OpenSSL`);
if (refusedKey) {
  await assert.rejects(new CryptographyClient(`${url}/keys/${refusedKey}`, credential).sign('ES256', digest),
    (e) => e.statusCode === 403 || assert.fail(`${e.statusCode} ${e.message}`));
  console.log(`ok - ${refusedKey}: refused 403`);
}
