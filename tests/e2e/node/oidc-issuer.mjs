// A real OpenID Connect issuer (oidc-provider from npm, not a hand-made signer) standing in for a workload's
// platform (a Kubernetes cluster, GitHub Actions): it issues its workload a JWT whose aud is Entra's token
// exchange audience, as a projected service-account token is. Usage: node oidc-issuer.mjs OUT_DIR SUBJECT...:
// starts the issuer on 127.0.0.1, gets each workload (subject) its token by the client credentials grant, and
// writes OUT_DIR/issuer (its URL), OUT_DIR/jwks.json (its public keys, from its jwks_uri) and OUT_DIR/token.N
// (N = 0, 1, ... in the subjects' order); exits, or with SR_OIDC_SERVE=1 goes on serving its discovery document
// and keys (until killed), for a vault that reads them itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Provider from 'oidc-provider';

const [out, ...subjects] = process.argv.slice(2);
const audience = 'api://AzureADTokenExchange';
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
const listener = http.createServer();
await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${listener.address().port}`;
const provider = new Provider(issuer, {
  clients: subjects.map((subject) => ({ client_id: subject, client_secret: 'workload-secret',
    grant_types: ['client_credentials'], redirect_uris: [], response_types: [] })),
  ttl: { ClientCredentials: 600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: '', audience, accessTokenTTL: 600, accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } } }),
    },
  },
  jwks: { keys: [jwk] },
});
listener.on('request', provider.callback());
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const jwks = await (await fetch(discovery.jwks_uri)).json();
fs.writeFileSync(path.join(out, 'issuer'), discovery.issuer);
fs.writeFileSync(path.join(out, 'jwks.json'), JSON.stringify(jwks));
for (const [i, subject] of subjects.entries()) {
  const answer = await (await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(subject)}:workload-secret`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience }),
  })).json();
  if (!answer.access_token) throw new Error(`no token: ${JSON.stringify(answer)}`);
  fs.writeFileSync(path.join(out, `token.${i}`), answer.access_token);
  console.log(`issuer ${discovery.issuer}: token for ${subject} written`);
}
if (!process.env.SR_OIDC_SERVE) {
  listener.close();
  process.exit(0);
}
