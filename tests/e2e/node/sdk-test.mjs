// The official Azure SDK (@azure/keyvault-keys), unchanged, against a Strongroom server.
// Only documented options: a TokenCredential returning a Strongroom token, and the CA
// trusted through NODE_EXTRA_CA_CERTS. Usage: node sdk-test.mjs URL TOKEN AUTHORITY_PEM ISSUER (an attestation
// authority the vault trusts, for releaseKey).
// SR_SDK_HSM=softhsm|strongroom (t8004): the vault's region is that PKCS#11 token (docs/hsm.md). The same scenario,
// and where the token does not do something (a mechanism it lacks, a clear key it never takes, a backup) the answer
// is a 4xx that says so, never the work done in software.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { KeyClient, CryptographyClient } from '@azure/keyvault-keys';

const [url, token, authorityPem, issuer] = process.argv.slice(2);
const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) };
const client = new KeyClient(url, credential);
const fast = { updateIntervalInMs: 50 };
const run = Date.now().toString(36);
const name = (s) => `${s}-${run}`;
let step = '';
const check = async (what, fn) => { step = what; await fn(); console.log(`ok - ${what}`); };
const sha = (alg, data) => crypto.createHash(alg).update(data).digest();
const hsm = process.env.SR_SDK_HSM || '';
const refused = (promise, status, pattern) =>
  assert.rejects(promise, (e) => e.statusCode === status && pattern.test(e.message) ? true : assert.fail(`${e.statusCode} ${e.message}`));
const byokOnly = /takes keys only by BYOK/;
const lacks = /lacks the mechanism/;

try {
  let rsa, ec;
  await check('createRsaKey', async () => {
    rsa = await client.createRsaKey(name('rsa'), { keySize: 2048, tags: { purpose: 'e2e' } });
    assert.equal(rsa.keyType, 'RSA-HSM');
    assert.match(rsa.properties.version, /^[0-9a-f]{32}$/);
    assert.equal(rsa.key.n.length, 256);
  });
  await check('createEcKey', async () => {
    ec = await client.createEcKey(name('ec'), { curve: 'P-256' });
    assert.equal(ec.key.crv, 'P-256');
    assert.equal(ec.key.x.length, 32);
    assert.equal(ec.key.y.length, 32);
  });
  await check('getKey (latest and by version)', async () => {
    const latest = await client.getKey(rsa.name);
    assert.equal(latest.id, rsa.id);
    const byVersion = await client.getKey(rsa.name, { version: rsa.properties.version });
    assert.equal(byVersion.properties.version, rsa.properties.version);
    await assert.rejects(client.getKey(name('missing')), (e) => e.statusCode === 404 && e.code === 'KeyNotFound');
  });
  await check('listPropertiesOfKeys (with paging)', async () => {
    const names = [];
    for await (const page of client.listPropertiesOfKeys().byPage({ maxPageSize: 1 })) {
      assert.ok(page.length <= 1);
      for (const p of page) names.push(p.name);
    }
    assert.ok(names.includes(rsa.name) && names.includes(ec.name), names.join(','));
  });
  await check('updateKeyProperties', async () => {
    const updated = await client.updateKeyProperties(rsa.name, rsa.properties.version, { tags: { purpose: 'updated' } });
    assert.equal(updated.properties.tags.purpose, 'updated');
  });
  await check('rotateKey: a new version, made where the old one was, signs', async () => {
    const first = await client.createEcKey(name('rot'), { curve: 'P-256' });
    const rotated = await client.rotateKey(first.name);
    assert.notEqual(rotated.properties.version, first.properties.version);
    const cc = new CryptographyClient(rotated.id, credential);
    const s = await cc.sign('ES256', sha('sha256', Buffer.from('rotated')));
    assert.equal((await cc.verify('ES256', sha('sha256', Buffer.from('rotated')), s.result)).result, true);
  });
  const rsaCrypto = new CryptographyClient(rsa.id, credential);
  const ecCrypto = new CryptographyClient(ec.id, credential);
  const data = Buffer.from('the quick brown fox');
  await check('sign/verify RS256, PS256, ES256', async () => {
    for (const [cc, alg, hash] of [[rsaCrypto, 'RS256', 'sha256'], [rsaCrypto, 'PS256', 'sha256'], [ecCrypto, 'ES256', 'sha256']]) {
      const digest = sha(hash, data);
      const s = await cc.sign(alg, digest);
      assert.equal((await cc.verify(alg, digest, s.result)).result, true, alg);
      const bad = Buffer.from(s.result); bad[0] ^= 1;
      assert.equal((await cc.verify(alg, digest, bad)).result, false, alg);
    }
    const ecSig = await ecCrypto.sign('ES256', sha('sha256', data));
    assert.equal(ecSig.result.length, 64); // raw r||s
    // And OpenSSL (node's crypto) verifies each with the public key the vault shows.
    const jwkKey = (k) => crypto.createPublicKey({ format: 'jwk', key: Object.fromEntries(Object.entries(k)
      .filter(([m, v]) => v !== undefined && ['kty', 'n', 'e', 'crv', 'x', 'y'].includes(m))
      .map(([m, v]) => [m, typeof v === 'string' ? v.replace('-HSM', '') : Buffer.from(v).toString('base64url')])) });
    const rsaPub = jwkKey(rsa.key);
    const rs = await rsaCrypto.sign('RS256', sha('sha256', data));
    assert.ok(crypto.verify('sha256', data, rsaPub, Buffer.from(rs.result)), 'openssl verifies RS256');
    const ps = await rsaCrypto.sign('PS256', sha('sha256', data));
    assert.ok(crypto.verify('sha256', data, { key: rsaPub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32 }, Buffer.from(ps.result)), 'openssl verifies PS256');
    assert.ok(crypto.verify('sha256', data, { key: jwkKey(ec.key), dsaEncoding: 'ieee-p1363' }, Buffer.from(ecSig.result)),
      'openssl verifies ES256');
  });
  await check('createEcKey P-256K, sign ES256K; node verifies the raw signature', async () => {
    const k1 = await client.createEcKey(name('k1'), { curve: 'P-256K' });
    assert.equal(k1.key.crv, 'P-256K');
    const cc = new CryptographyClient(k1.id, credential);
    const s = await cc.sign('ES256K', sha('sha256', data));
    assert.equal(s.result.length, 64);
    assert.equal((await cc.verify('ES256K', sha('sha256', data), s.result)).result, true);
    const pub = crypto.createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: Buffer.from(k1.key.x).toString('base64url'),
                                               y: Buffer.from(k1.key.y).toString('base64url') }, format: 'jwk' });
    assert.ok(crypto.verify('sha256', data, { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(s.result)));
    await assert.rejects(cc.sign('ES256', sha('sha256', data)), (e) => e.statusCode === 400);
  });
  await check('getKeyAttestation: both statements name the key and its public half', async () => {
    const att = await client.getKeyAttestation(ec.name, { version: ec.properties.version });
    assert.equal(att.id, ec.id);
    assert.equal(att.properties.attestation.version, '1.0');
    assert.match(Buffer.from(att.properties.attestation.certificatePemFile).toString(), /BEGIN CERTIFICATE/);
    for (const which of ['privateKeyAttestation', 'publicKeyAttestation']) {
      const env = JSON.parse(Buffer.from(att.properties.attestation[which]).toString());
      const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString());
      assert.equal(payload.kid, ec.id);
      const warrant = new crypto.X509Certificate(env.warrant);
      assert.ok(warrant.verify(new crypto.X509Certificate(env.root).publicKey), 'warrant by root');
      assert.ok(crypto.verify('sha384', Buffer.from(env.payload, 'base64'), warrant.publicKey,
                              Buffer.from(env.signature, 'base64')), which);
      const spki = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: Buffer.from(ec.key.x).toString('base64url'),
                                                   y: Buffer.from(ec.key.y).toString('base64url') }, format: 'jwk' })
        .export({ type: 'spki', format: 'der' });
      assert.equal(payload.key.public_key, spki.toString('base64'));
    }
  });
  await check('oct-HSM: createOctKey 128/192/256, GCM/CBC/CBCPAD round trips and KW wrap, no k in answers', async () => {
    for (const bits of [128, 192, 256]) {
      const oct = await client.createOctKey(name(`oct${bits}`), { keySize: bits, hsm: true });
      assert.equal(oct.keyType, 'oct-HSM');
      assert.equal(oct.key.k, undefined);
      const cc = new CryptographyClient(oct.id, credential);
      const aad = Buffer.from('header');
      const g = await cc.encrypt({ algorithm: `A${bits}GCM`, plaintext: data, additionalAuthenticatedData: aad });
      assert.equal(g.iv.length, 12);
      assert.equal(g.authenticationTag.length, 16);
      const back = await cc.decrypt({ algorithm: `A${bits}GCM`, ciphertext: g.result, iv: g.iv,
                                      authenticationTag: g.authenticationTag, additionalAuthenticatedData: aad });
      assert.deepEqual(Buffer.from(back.result), data);
      const iv = crypto.randomBytes(16);
      for (const alg of [`A${bits}CBC`, `A${bits}CBCPAD`]) {
        const pt = alg.endsWith('PAD') ? data : Buffer.alloc(32, 7);
        const e = await cc.encrypt({ algorithm: alg, plaintext: pt, iv });
        assert.deepEqual(Buffer.from((await cc.decrypt({ algorithm: alg, ciphertext: e.result, iv })).result), pt);
      }
      const cek = crypto.randomBytes(32);
      // SoftHSMv2 2.6 does AES key wrap (RFC 3394) only in C_WrapKey of its own keys, not on given bytes.
      if (hsm === 'softhsm') { await refused(cc.wrapKey(`A${bits}KW`, cek), 400, lacks); continue; }
      const w = await cc.wrapKey(`A${bits}KW`, cek);
      assert.deepEqual(Buffer.from((await cc.unwrapKey(`A${bits}KW`, w.result)).result), cek);
    }
  });
  await check('oct-HSM: an imported AES key agrees with node crypto; a flipped tag or ciphertext bit is refused', async () => {
    if (hsm) return refused(client.importKey(name('octi'), { kty: 'oct-HSM', k: crypto.randomBytes(32) }), 400, byokOnly);
    for (const bits of [128, 192, 256]) {
      const k = crypto.randomBytes(bits / 8);
      const oct = await client.importKey(name(`octi${bits}`), { kty: 'oct-HSM', k, keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] });
      assert.equal(oct.key.k, undefined);
      const cc = new CryptographyClient(oct.id, credential);
      const aad = Buffer.from('aad');
      const g = await cc.encrypt({ algorithm: `A${bits}GCM`, plaintext: data, additionalAuthenticatedData: aad });
      const d = crypto.createDecipheriv(`aes-${bits}-gcm`, k, Buffer.from(g.iv));
      d.setAAD(aad); d.setAuthTag(Buffer.from(g.authenticationTag));
      assert.deepEqual(Buffer.concat([d.update(Buffer.from(g.result)), d.final()]), data, 'node opens the vault\'s GCM');
      const iv12 = crypto.randomBytes(12);
      const e = crypto.createCipheriv(`aes-${bits}-gcm`, k, iv12);
      const ct = Buffer.concat([e.update(data), e.final()]);
      const tag = e.getAuthTag();
      const opened = await cc.decrypt({ algorithm: `A${bits}GCM`, ciphertext: ct, iv: iv12, authenticationTag: tag });
      assert.deepEqual(Buffer.from(opened.result), data, 'the vault opens node\'s GCM');
      for (const [c2, t2] of [[Buffer.from(ct).fill(ct[0] ^ 1, 0, 1), tag], [ct, Buffer.from(tag).fill(tag[0] ^ 1, 0, 1)]]) {
        await assert.rejects(cc.decrypt({ algorithm: `A${bits}GCM`, ciphertext: c2, iv: iv12, authenticationTag: t2 }),
                             (err) => err.statusCode === 400 && /decryption failed/.test(err.message));
      }
      const iv = crypto.randomBytes(16);
      const cbc = await cc.encrypt({ algorithm: `A${bits}CBCPAD`, plaintext: data, iv });
      const dc = crypto.createDecipheriv(`aes-${bits}-cbc`, k, iv);
      assert.deepEqual(Buffer.concat([dc.update(Buffer.from(cbc.result)), dc.final()]), data, 'node opens CBCPAD');
      const cek = crypto.randomBytes(24);
      const w = await cc.wrapKey(`A${bits}KW`, cek);
      const dw = crypto.createDecipheriv(`id-aes${bits}-wrap`, k, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
      assert.deepEqual(Buffer.concat([dw.update(Buffer.from(w.result)), dw.final()]), cek, 'node unwraps A*KW');
    }
  });
  // SoftHSMv2 2.6 does OAEP with SHA-1 only.
  const oaep256 = hsm === 'softhsm' ? 'RSA-OAEP' : 'RSA-OAEP-256';
  await check('encrypt/decrypt RSA-OAEP and RSA-OAEP-256', async () => {
    if (hsm === 'softhsm') {
      const enc = await rsaCrypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: data });
      await refused(rsaCrypto.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: enc.result }), 400, lacks);
    }
    for (const alg of ['RSA-OAEP', oaep256]) {
      const enc = await rsaCrypto.encrypt({ algorithm: alg, plaintext: data });
      const dec = await rsaCrypto.decrypt({ algorithm: alg, ciphertext: enc.result });
      assert.deepEqual(Buffer.from(dec.result), data);
    }
  });
  await check('wrapKey/unwrapKey', async () => {
    const cek = crypto.randomBytes(32);
    const wrapped = await rsaCrypto.wrapKey(oaep256, cek);
    const unwrapped = await rsaCrypto.unwrapKey(oaep256, wrapped.result);
    assert.deepEqual(Buffer.from(unwrapped.result), cek);
  });
  await check('importKey of a plain JWK, then use it', async () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const jwk = privateKey.export({ format: 'jwk' });
    const key = { kty: 'EC', crv: 'P-384', x: Buffer.from(jwk.x, 'base64url'), y: Buffer.from(jwk.y, 'base64url'),
                  d: Buffer.from(jwk.d, 'base64url'), keyOps: ['sign', 'verify'] };
    if (hsm) return refused(client.importKey(name('imported'), key), 400, byokOnly);
    const imported = await client.importKey(name('imported'), key);
    assert.equal(imported.key.crv, 'P-384');
    assert.equal(imported.key.d, undefined);
    const digest = sha('sha384', data);
    const s = await new CryptographyClient(imported.id, credential).sign('ES384', digest);
    const der = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-384', x: jwk.x, y: jwk.y }, format: 'jwk' });
    assert.ok(crypto.verify('sha384', data, { key: der, dsaEncoding: 'ieee-p1363' }, Buffer.from(s.result)));
  });
  await check('beginDeleteKey -> getDeletedKey -> beginRecoverDeletedKey', async () => {
    const del = await client.beginDeleteKey(ec.name, fast);
    const deleted = await del.pollUntilDone();
    assert.ok(deleted.properties.recoveryId.endsWith(`/deletedkeys/${ec.name}`));
    const got = await client.getDeletedKey(ec.name);
    assert.equal(got.name, ec.name);
    await assert.rejects(client.getKey(ec.name), (e) => e.statusCode === 404);
    const rec = await client.beginRecoverDeletedKey(ec.name, fast);
    const recovered = await rec.pollUntilDone();
    assert.equal(recovered.name, ec.name);
    assert.equal((await client.getKey(ec.name)).id, ec.id);
  });
  await check('purgeDeletedKey', async () => {
    const doomed = await client.createRsaKey(name('doomed'));
    await (await client.beginDeleteKey(doomed.name, fast)).pollUntilDone();
    await client.purgeDeletedKey(doomed.name);
    await assert.rejects(client.getDeletedKey(doomed.name), (e) => e.statusCode === 404);
  });
  await check('backupKey/restoreKeyBackup', async () => {
    // As Managed HSM for keys that never leave: the HSM vendor's own backup is the way.
    if (hsm) return refused(client.backupKey(rsa.name), 400, /backup/);
    const backup = await client.backupKey(rsa.name);
    assert.ok(backup.length > 100);
    await (await client.beginDeleteKey(rsa.name, fast)).pollUntilDone();
    await client.purgeDeletedKey(rsa.name);
    const restored = await client.restoreKeyBackup(backup);
    assert.equal(restored.name, rsa.name);
    const digest = sha('sha256', data);
    const s = await rsaCrypto.sign('RS256', digest);
    assert.equal((await rsaCrypto.verify('RS256', digest, s.result)).result, true);
    await assert.rejects(client.restoreKeyBackup(backup), (e) => e.statusCode === 409);
  });
  await check('secure key release: an exportable key with a release policy, releaseKey, the key opens in node', async () => {
    const policy = { version: '1.0.0', anyOf: [{ authority: issuer, allOf: [
      { claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { claim: 'x-ms-sevsnpvm-is-debuggable', equals: false },
      // As the SDK's own release test: a string in the policy, a boolean in Azure's mock attestation token.
      { claim: 'sdk-test', equals: 'true' }] }] };
    const key = await client.createRsaKey(name('release'), { keySize: 2048, exportable: true,
      releasePolicy: { encodedPolicy: Buffer.from(JSON.stringify(policy)), immutable: true } });
    assert.equal(key.properties.exportable, true);
    assert.equal(key.properties.releasePolicy.immutable, true);
    assert.deepEqual(JSON.parse(Buffer.from(key.properties.releasePolicy.encodedPolicy).toString()), policy);
    const runtime = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rt = runtime.publicKey.export({ format: 'jwk' });
    const authority = crypto.createPrivateKey(fs.readFileSync(authorityPem));
    const token = (debuggable) => {
      const now = Math.floor(Date.now() / 1000);
      const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      // The token's iss differs from the trusted issuer by case and its trailing '/', as real ones may.
      const iss = issuer.replace(/\/+$/, '').toUpperCase();
      const signed = `${part({ alg: 'RS256', kid: 'sdk-authority', typ: 'JWT' })}.${part({ iss, iat: now,
        nbf: now - 5, exp: now + 300, 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-sevsnpvm-is-debuggable': debuggable,
        'sdk-test': true,
        'x-ms-runtime': { keys: [{ kid: 'runtime-1', kty: 'RSA', key_ops: ['encrypt'], n: rt.n, e: rt.e }] } })}`;
      return `${signed}.${crypto.sign('sha256', Buffer.from(signed), authority).toString('base64url')}`;
    };
    // Our own library wraps only under keys its security officer trusts (docs/pkcs11.md): the token says no.
    if (hsm === 'strongroom') return refused(client.releaseKey(key.name, token(false)), 403, /token's own policy/);
    const released = await client.releaseKey(key.name, token(false), { nonce: 'sdk-nonce' });
    const [h, p, s] = released.value.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url'));
    const payload = JSON.parse(Buffer.from(p, 'base64url'));
    const cert = new crypto.X509Certificate(Buffer.from(header.x5c[0], 'base64'));
    assert.ok(crypto.verify('sha384', Buffer.from(`${h}.${p}`), { key: cert.publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url')));
    assert.equal(payload.request.nonce, 'sdk-nonce');
    const envelope = JSON.parse(Buffer.from(payload.response.key.key.key_hsm, 'base64url'));
    const ct = Buffer.from(envelope.ciphertext, 'base64url');
    const transport = crypto.privateDecrypt({ key: runtime.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha1' }, ct.subarray(0, 256));
    const kwp = crypto.createDecipheriv('id-aes256-wrap-pad', transport, Buffer.from('A65959A6', 'hex'));
    const pkcs8 = Buffer.concat([kwp.update(ct.subarray(256)), kwp.final()]);
    const opened = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
    assert.equal(opened.n, Buffer.from(key.key.n).toString('base64url'));
    await assert.rejects(client.releaseKey(key.name, token(true)), (e) => e.statusCode === 403);
    await assert.rejects(client.releaseKey(rsa.name, token(false)), (e) => e.statusCode === 403);
    await assert.rejects(client.updateKeyProperties(key.name, { releasePolicy: { encodedPolicy: Buffer.from('{}') } }),
      (e) => e.statusCode === 400 && e.message === 'AKV.SKR.1020: Immutable Key Release Policy cannot be modified.');
    // Key Vault's own words for a policy on a key that is not exportable, as its recordings hold them.
    await assert.rejects(client.createRsaKey(name('nopolicy'), { keySize: 2048,
      releasePolicy: { encodedPolicy: Buffer.from(JSON.stringify(policy)) } }),
      (e) => e.statusCode === 400 && e.message === 'AKV.SKR.1005: Non-exportable keys must not have release policy.');
    await assert.rejects(client.createRsaKey(name('nopolicy'), { keySize: 2048, exportable: true }),
      (e) => e.statusCode === 400 && e.message === 'AKV.SKR.1004: Exportable keys must have release policy.');
  });
  await check('getRandomBytes', async () => {
    const bytes = await client.getRandomBytes(32);
    assert.equal(bytes.length, 32);
  });
  console.log('PASS');
} catch (e) {
  console.error(`FAIL at ${step}:`, e);
  process.exit(1);
}
