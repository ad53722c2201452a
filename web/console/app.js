// The Strongroom console: a page over the vault's own REST API (the Key Vault keys API), with the bearer
// token held in this module's memory only. Every value from the server reaches the page as text
// (textContent), never as markup. The server enforces every permission; the page only hides controls
// the token's role cannot use.
const API = 'api-version=7.5';
let token = null;
let canWrite = false;
let current = null; // the key shown in detail

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
  }
}

async function showKey(name) {
  const bundle = await api('GET', `/keys/${encodeURIComponent(name)}`);
  current = { name, enabled: bundle.attributes.enabled };
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
  const versions = $('version-table').tBodies[0];
  versions.textContent = '';
  for (const item of await listAll(`/keys/${encodeURIComponent(name)}/versions`)) {
    const row = versions.insertRow();
    cell(row, item.kid.split('/').pop());
    cell(row, item.attributes.enabled ? 'yes' : 'no');
    when(row.insertCell(), item.attributes.created);
    cell(row, item.attributes.exportable ? 'yes' : 'no');
  }
  $('keys').hidden = true;
  $('deleted').hidden = true;
  $('detail').hidden = false;
  $('detail-h').tabIndex = -1;
  $('detail-h').focus();
}

async function backToKeys() {
  current = null;
  $('detail').hidden = true;
  $('keys').hidden = false;
  $('deleted').hidden = false;
  await loadKeys();
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
  canWrite = (vault.permissions || []).includes('create');
  $('who').textContent = `Vault ${vault.name} (region ${vault.region}) — role ${vault.role || 'unknown'}`;
  document.querySelectorAll('.needs-write').forEach((el) => { el.hidden = !canWrite; });
  $('signin').hidden = true;
  $('signout').hidden = false;
  $('keys').hidden = false;
  $('deleted').hidden = false;
  await loadKeys();
}

function signOut() {
  token = null;
  canWrite = false;
  $('token').value = '';
  $('who').textContent = '';
  ['keys', 'deleted', 'detail'].forEach((id) => { $(id).hidden = true; });
  $('signin').hidden = false;
  $('signout').hidden = true;
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
