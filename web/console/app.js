// The Strongroom console: a page over the vault's own REST API (the Key Vault keys API), with the bearer
// token held in this module's memory only. Every value from the server reaches the page as text
// (textContent), never as markup. The server enforces every permission; the page only hides controls
// the token's role cannot use.
const API = 'api-version=7.5';
let token = null;
let canWrite = false;
let canPurge = false;
let perms = []; // the caller's permissions, as GET /byok/vault names them
let current = null; // the key shown in detail: { name, enabled, bundle }
let auditEntries = [];

const $ = (id) => document.getElementById(id);

function status(message, error = false) {
  const s = $('status');
  s.textContent = message;
  s.classList.toggle('error', error);
}

async function api(method, path, body) {
  const sep = path.includes('?') ? '&' : '?';
  const url = path.includes('api-version=') ? path : path + sep + API;
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const msg = json && json.error ? json.error.message : res.statusText;
    throw new Error(`${res.status} ${json && json.error ? json.error.code : ''}: ${msg}`);
  }
  return json;
}

// A Unix time as ISO-8601 UTC, with the reader's local time beside it.
function when(cell, seconds) {
  cell.textContent = '';
  if (!seconds) {
    cell.textContent = '—';
    return;
  }
  const d = new Date(seconds * 1000);
  const iso = document.createElement('time');
  iso.dateTime = d.toISOString();
  iso.textContent = d.toISOString().replace('.000Z', 'Z');
  const local = document.createElement('span');
  local.className = 'local';
  local.textContent = d.toLocaleString();
  cell.append(iso, local);
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

function keyName(kid) {
  const parts = new URL(kid).pathname.split('/');
  return decodeURIComponent(parts[2] || '');
}

function tagsText(tags) {
  return Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

// Runs an action with the page marked busy; its error is shown plainly.
async function busy(label, fn) {
  document.body.setAttribute('aria-busy', 'true');
  document.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  status(`${label}…`);
  try {
    await fn();
    status(`${label}: done.`);
  } catch (e) {
    status(`${label} failed — ${e.message}`, true);
  } finally {
    document.body.removeAttribute('aria-busy');
    document.querySelectorAll('button').forEach((b) => { b.disabled = false; });
  }
}

async function listAll(path) {
  let items = [];
  let next = path;
  while (next) {
    const page = await api('GET', next);
    items = items.concat(page.value || []);
    next = page.nextLink ? new URL(page.nextLink).pathname + new URL(page.nextLink).search : null;
  }
  return items;
}

async function loadKeys() {
  const body = $('key-table').tBodies[0];
  body.textContent = '';
  for (const item of await listAll('/keys')) {
    const row = body.insertRow();
    const name = keyName(item.kid);
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'link';
    link.textContent = name;
    link.addEventListener('click', () => busy(`Open ${name}`, () => showKey(name)));
    row.insertCell().append(link);
    cell(row, item.attributes.enabled ? 'yes' : 'no');
    when(row.insertCell(), item.attributes.created);
    when(row.insertCell(), item.attributes.exp);
    cell(row, tagsText(item.tags));
  }
  const deleted = $('deleted-table').tBodies[0];
  deleted.textContent = '';
  for (const item of await listAll('/deletedkeys')) {
    const row = deleted.insertRow();
    const name = keyName(item.kid);
    cell(row, name);
    when(row.insertCell(), item.deletedDate);
    when(row.insertCell(), item.scheduledPurgeDate);
    const td = row.insertCell();
    if (canWrite) {
      const recover = document.createElement('button');
      recover.type = 'button';
      recover.textContent = `Recover ${name}`;
      recover.addEventListener('click', () => busy(`Recover ${name}`, async () => {
        await api('POST', `/deletedkeys/${encodeURIComponent(name)}/recover`);
        await loadKeys();
      }));
      td.append(recover);
    }
    if (canPurge) {
      const purge = document.createElement('button');
      purge.type = 'button';
      purge.className = 'danger';
      purge.textContent = `Purge ${name}`;
      purge.addEventListener('click', () => {
        // A purge cannot be undone: the page asks for the name, typed, before it sends it.
        const typed = $('purge-confirm').value.trim();
        if (typed !== name) {
          status(`To purge ${name} for good, type its name in "Name to purge" first.`, true);
          return;
        }
        busy(`Purge ${name}`, async () => {
          await api('DELETE', `/deletedkeys/${encodeURIComponent(name)}`);
          $('purge-confirm').value = '';
          await loadKeys();
        });
      });
      td.append(purge);
    }
  }
}

async function showKey(name) {
  const bundle = await api('GET', `/keys/${encodeURIComponent(name)}`);
  current = { name, enabled: bundle.attributes.enabled, bundle };
  $('detail-h').textContent = `Key ${name}`;
  const props = $('detail-props');
  props.textContent = '';
  const add = (term, value) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    if (typeof value === 'function') value(dd); else dd.textContent = value;
    props.append(dt, dd);
  };
  add('Key id', bundle.key.kid);
  add('Type', `${bundle.key.kty}${bundle.key.crv ? ` ${bundle.key.crv}` : ''}`);
  add('Operations', (bundle.key.key_ops || []).join(', '));
  add('Enabled', bundle.attributes.enabled ? 'yes' : 'no');
  add('Created', (dd) => when(dd, bundle.attributes.created));
  add('Expires', (dd) => when(dd, bundle.attributes.exp));
  add('Exportable', bundle.attributes.exportable ? 'yes (release policy)' : 'no');
  add('Tags', tagsText(bundle.tags) || '—');
  $('toggle').textContent = bundle.attributes.enabled ? 'Disable' : 'Enable';
  $('edit-tags').value = Object.entries(bundle.tags || {}).map(([k, v]) => `${k}=${v}`).join('\n');
  $('edit-exp').value = bundle.attributes.exp ? localInput(bundle.attributes.exp) : '';
  const policy = await api('GET', `/keys/${encodeURIComponent(name)}/rotationpolicy`);
  const rotate = (policy.lifetimeActions || []).find((a) => a.action && a.action.type === 'Rotate');
  $('policy-now').textContent = rotate
    ? `Rotation policy: rotate ${Object.entries(rotate.trigger).map(([k, v]) => `${k} ${v}`).join(', ')}`
    : 'Rotation policy: no automatic rotation';
  $('download').hidden = !['RSA', 'RSA-HSM', 'EC', 'EC-HSM'].includes(bundle.key.kty);
  const versions = $('version-table').tBodies[0];
  versions.textContent = '';
  for (const item of await listAll(`/keys/${encodeURIComponent(name)}/versions`)) {
    const row = versions.insertRow();
    cell(row, item.kid.split('/').pop());
    cell(row, item.attributes.enabled ? 'yes' : 'no');
    when(row.insertCell(), item.attributes.created);
    cell(row, item.attributes.exportable ? 'yes' : 'no');
  }
  showView('detail');
  $('detail-h').tabIndex = -1;
  $('detail-h').focus();
}

const VIEWS = ['vault', 'keys', 'deleted', 'detail', 'byok', 'audit', 'secrets'];

function secretName(id) {
  const parts = new URL(id).pathname.split('/');
  return decodeURIComponent(parts[2] || '');
}

// The secrets' names and attributes; a value only when asked for, row by row, by a role that may read it.
async function loadSecrets() {
  const body = $('secret-table').tBodies[0];
  body.textContent = '';
  for (const item of await listAll('/secrets')) {
    const name = secretName(item.id);
    const row = body.insertRow();
    cell(row, name);
    cell(row, item.contentType || '—');
    cell(row, item.attributes.enabled ? 'yes' : 'no');
    when(row.insertCell(), item.attributes.updated);
    when(row.insertCell(), item.attributes.exp);
    cell(row, tagsText(item.tags));
    const valueCell = cell(row, '••••••');
    const actions = row.insertCell();
    if (perms.includes('secrets/get')) {
      const show = document.createElement('button');
      show.type = 'button';
      show.textContent = `Show ${name}`;
      show.addEventListener('click', () => busy(`Show ${name}`, async () => {
        const secret = await api('GET', `/secrets/${encodeURIComponent(name)}`);
        valueCell.textContent = secret.value;
      }));
      actions.append(show);
    }
    if (perms.includes('secrets/write')) {
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'danger';
      del.textContent = `Delete ${name}`;
      del.addEventListener('click', () => busy(`Delete ${name}`, async () => {
        await api('DELETE', `/secrets/${encodeURIComponent(name)}`);
        await loadSecrets();
      }));
      actions.append(del);
    }
  }
}

function showView(view) {
  for (const id of VIEWS) {
    $(id).hidden = !(id === view || (view === 'keys' && id === 'deleted'));
  }
  document.querySelectorAll('.needs-write').forEach((el) => { if (!canWrite) el.hidden = true; });
  document.querySelectorAll('.needs-secret-write').forEach((el) => { if (!perms.includes('secrets/write')) el.hidden = true; });
}

async function backToKeys() {
  current = null;
  showView('keys');
  await loadKeys();
}

// A Unix time as a datetime-local input's value, in the reader's time zone.
function localInput(seconds) {
  const d = new Date(seconds * 1000);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function saveBlob(text, name, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(a.href);
}

async function loadVault() {
  const vault = await api('GET', '/byok/vault');
  const props = $('vault-props');
  props.textContent = '';
  for (const [term, value] of [['Name', vault.name], ['Region', vault.region], ['Subscription', vault.subscriptionId],
                               ['URL', vault.url], ['Your role', vault.role]]) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    props.append(dt, dd);
  }
  const res = await fetch('/byok/toolsets');
  const toolsets = res.ok ? await res.json() : { value: [] };
  const body = $('toolset-table').tBodies[0];
  body.textContent = '';
  for (const t of toolsets.value || []) {
    const row = body.insertRow();
    cell(row, t.region);
    const a = document.createElement('a');
    a.href = `/byok/toolsets/${encodeURIComponent(t.name)}`;
    a.textContent = t.name;
    row.insertCell().append(a);
    cell(row, t.sha256);
  }
}

function base64url(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// The key's public half as PEM (SubjectPublicKeyInfo), made from its JWK by the browser's WebCrypto.
async function downloadPublicKey() {
  const k = current.bundle.key;
  const rsa = k.kty.startsWith('RSA');
  const jwk = rsa ? { kty: 'RSA', n: k.n, e: k.e } : { kty: 'EC', crv: k.crv, x: k.x, y: k.y };
  const alg = rsa ? { name: 'RSA-OAEP', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: k.crv };
  const key = await crypto.subtle.importKey('jwk', jwk, alg, true, rsa ? ['encrypt'] : ['verify']);
  const der = new Uint8Array(await crypto.subtle.exportKey('spki', key));
  const b64 = btoa(String.fromCharCode(...der)).match(/.{1,64}/g).join('\n');
  saveBlob(`-----BEGIN PUBLIC KEY-----\n${b64}\n-----END PUBLIC KEY-----\n`, `${current.name}.pem`, 'application/x-pem-file');
}

async function loadAudit() {
  const log = await api('GET', '/audit');
  auditEntries = log.value.reverse();
  const chain = $('chain');
  chain.textContent = log.chain.verified
    ? `Audit chain verified: ${log.chain.entries} entries, every link intact.`
    : `Audit chain BROKEN at entry ${log.chain.brokenAt}: run 'strongroom audit verify' on the server.`;
  chain.classList.toggle('error', !log.chain.verified);
  const ops = $('f-op');
  const chosen = ops.value;
  ops.length = 1;
  for (const op of [...new Set(auditEntries.map((e) => e.op))].sort()) {
    ops.add(new Option(op, op));
  }
  ops.value = chosen;
  renderAudit();
}

function renderAudit() {
  const since = $('f-since').value ? new Date($('f-since').value).getTime() / 1000 : 0;
  const op = $('f-op').value;
  const actor = $('f-actor').value.trim();
  const outcome = $('f-outcome').value;
  const body = $('audit-table').tBodies[0];
  body.textContent = '';
  for (const e of auditEntries) {
    if (e.time < since || (op && e.op !== op) || (actor && e.actor !== actor) ||
        (outcome === 'ok' && e.status >= 400) || (outcome === 'refused' && e.status < 400)) {
      continue;
    }
    const row = body.insertRow();
    cell(row, String(e.seq));
    when(row.insertCell(), e.time);
    cell(row, e.actor);
    cell(row, e.op);
    cell(row, e.target);
    cell(row, String(e.status));
    cell(row, e.count > 1 ? `${e.reason} (×${e.count})` : e.reason);
  }
}

function createBody(kty) {
  switch (kty) {
    case 'EC-384': return { kty: 'EC-HSM', crv: 'P-384' };
    case 'RSA': return { kty: 'RSA-HSM', key_size: 2048 };
    case 'oct': return { kty: 'oct-HSM', key_size: 256 };
    default: return { kty: 'EC-HSM', crv: 'P-256' };
  }
}

async function signIn(value) {
  token = value;
  const vault = await api('GET', '/byok/vault');
  perms = vault.permissions || [];
  canWrite = perms.includes('create');
  canPurge = perms.includes('purge');
  const canAudit = perms.includes('audit');
  const canKeys = perms.includes('list');
  const canSecrets = perms.includes('secrets/readMetadata');
  $('who').textContent = `Vault ${vault.name} (region ${vault.region}) — role ${vault.role || 'unknown'}`;
  document.querySelectorAll('.needs-write').forEach((el) => { el.hidden = !canWrite; });
  document.querySelectorAll('.needs-audit').forEach((el) => { el.hidden = !canAudit; });
  document.querySelectorAll('.needs-keys').forEach((el) => { el.hidden = !canKeys; });
  document.querySelectorAll('.needs-secrets').forEach((el) => { el.hidden = !canSecrets; });
  $('signin').hidden = true;
  $('signout').hidden = false;
  $('nav').hidden = false;
  if (canKeys || !canSecrets) {
    showView('keys');
    await loadKeys();
  } else {
    showView('secrets');
    await loadSecrets();
  }
}

function signOut() {
  token = null;
  canWrite = false;
  perms = [];
  $('token').value = '';
  $('who').textContent = '';
  VIEWS.forEach((id) => { $(id).hidden = true; });
  $('signin').hidden = false;
  $('signout').hidden = true;
  $('nav').hidden = true;
  status('Signed out: the token is forgotten.');
}

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('token').value.trim();
  $('token').value = '';
  busy('Sign in', async () => {
    try {
      await signIn(value);
    } catch (e) {
      token = null;
      throw e;
    }
  });
});
$('signout').addEventListener('click', signOut);
$('secret-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('secret-name').value.trim();
  const body = { value: $('secret-value').value };
  if ($('secret-type').value.trim()) body.contentType = $('secret-type').value.trim();
  busy(`Set ${name}`, async () => {
    await api('PUT', `/secrets/${encodeURIComponent(name)}`, body);
    $('secret-form').reset();
    await loadSecrets();
  });
});
$('create-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('new-name').value.trim();
  busy(`Create ${name}`, async () => {
    await api('POST', `/keys/${encodeURIComponent(name)}/create`, createBody($('new-kty').value));
    $('new-name').value = '';
    await loadKeys();
  });
});
$('rotate').addEventListener('click', () => busy(`Rotate ${current.name}`, async () => {
  await api('POST', `/keys/${encodeURIComponent(current.name)}/rotate`);
  await showKey(current.name);
}));
$('toggle').addEventListener('click', () => busy(`${current.enabled ? 'Disable' : 'Enable'} ${current.name}`, async () => {
  await api('PATCH', `/keys/${encodeURIComponent(current.name)}/`, { attributes: { enabled: !current.enabled } });
  await showKey(current.name);
}));
$('delete').addEventListener('click', () => busy(`Delete ${current.name}`, async () => {
  await api('DELETE', `/keys/${encodeURIComponent(current.name)}`);
  await backToKeys();
}));
$('back').addEventListener('click', () => busy('Keys', backToKeys));
$('download').addEventListener('click', () => busy(`Download ${current.name}.pem`, downloadPublicKey));
$('kek-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('kek-name').value.trim();
  busy(`Create import KEK ${name}`, async () => {
    await api('POST', `/keys/${encodeURIComponent(name)}/create`, { kty: 'RSA-HSM', key_size: 3072, key_ops: ['import'] });
    $('kek-name').value = '';
    await showKey(name);
  });
});
$('byok-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const file = $('byok-file').files[0];
  const name = $('byok-name').value.trim();
  busy(`Import ${name} from ${file ? file.name : 'nothing'}`, async () => {
    if (!file) throw new Error('choose a .byok file');
    const keyHsm = base64url(new Uint8Array(await file.arrayBuffer()));
    await api('PUT', `/keys/${encodeURIComponent(name)}`, { key: { kty: $('byok-kty').value, key_hsm: keyHsm } });
    $('byok-form').reset();
    await showKey(name);
  });
});
$('audit-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  renderAudit();
});
document.querySelectorAll('#nav button').forEach((b) => b.addEventListener('click', () => {
  const view = b.dataset.view;
  busy(b.textContent, async () => {
    showView(view);
    if (view === 'keys') await loadKeys();
    if (view === 'secrets') await loadSecrets();
    if (view === 'audit') await loadAudit();
    if (view === 'vault') await loadVault();
  });
}));
$('backup').addEventListener('click', () => busy(`Back up ${current.name}`, async () => {
  const backup = await api('POST', `/keys/${encodeURIComponent(current.name)}/backup`);
  saveBlob(backup.value, `${current.name}.keybackup`, 'application/octet-stream');
}));
$('restore-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const file = $('restore-file').files[0];
  busy(`Restore ${file ? file.name : 'nothing'}`, async () => {
    if (!file) throw new Error('choose a backup file');
    const restored = await api('POST', '/keys/restore', { value: (await file.text()).trim() });
    $('restore-form').reset();
    await showKey(keyName(restored.key.kid));
  });
});
$('edit-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const tags = {};
  for (const line of $('edit-tags').value.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf('=');
    if (at < 1) {
      status(`A tag is name=value: '${line}'`, true);
      return;
    }
    tags[line.slice(0, at)] = line.slice(at + 1);
  }
  const exp = $('edit-exp').value ? Math.floor(new Date($('edit-exp').value).getTime() / 1000) : null;
  busy(`Save ${current.name}`, async () => {
    await api('PATCH', `/keys/${encodeURIComponent(current.name)}/`, { tags, attributes: { exp } });
    await showKey(current.name);
  });
});
$('policy-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const days = Number($('policy-days').value);
  busy(`Rotation policy of ${current.name}`, async () => {
    await api('PUT', `/keys/${encodeURIComponent(current.name)}/rotationpolicy`, {
      lifetimeActions: [{ trigger: { timeAfterCreate: `P${days}D` }, action: { type: 'Rotate' } }],
      attributes: { expiryTime: `P${days * 2}D` },
    });
    await showKey(current.name);
  });
});
