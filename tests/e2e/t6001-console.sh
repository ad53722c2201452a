#!/usr/bin/env bash
# The web console (https://<vault>:PORT/console/) in headless Chromium (Debian's, driven by playwright-core
# from npm; tests/e2e/node/console-test.mjs says each step): sign in, the vault and its toolsets, create
# an EC key and see it, rotate it to two versions, tags, expiry and a rotation policy, backup and restore,
# a tag of <script> and quotes shown as text, delete and recover, BYOK import of an uploaded .byok made for
# a KEK created and downloaded in the console (the key then signs through the API), the audit trail with
# its chain verified; a Reader sees no controls and a forced request is refused (403 shown plainly); the
# CSP on every console response; axe-core finds nothing serious or critical in any view. Screenshots of
# the views go to $SR_BUILD_DIR/console-shots for review. Secrets: listed without their values, a value shown
# only when asked for by a role that may read it, set and deleted by a writer; a Secrets User lands on them.
. "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null || fail "no chromium (Debian package chromium; scripts/bootstrap.sh installs it)"
sdk_install
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
READER=$($SR token create --role Reader --vault dev --name console-reader --data "$T/data")
SUSER=$($SR token create --role "Secrets User" --vault dev --name console-secrets-user --data "$T/data")
api PUT "/secrets/console-secret?api-version=7.5" '{"value":"console-value-7f3a","contentType":"text/plain"}' >/dev/null
[ "$(cat "$T/status")" = 200 ] || fail "the console's secret"
api POST "/keys/tagged/create?api-version=7.5" \
    '{"kty":"EC","tags":{"note":"<script>alert(\"x\")</script>'"'"'\""}}' >/dev/null
[ "$(cat "$T/status")" = 200 ] || fail "the tagged key"
# A refusal whose target is invalid UTF-8: the audit view still loads, and shows it as U+FFFD (issue 29).
api GET "/keys/%FF%FE?api-version=7.5" "" --path-as-is >/dev/null
[ "$(cat "$T/status")" = 400 ] || fail "GET /keys/%FF%FE answered $(cat "$T/status")"
step "the console in headless Chromium"
NODE_EXTRA_CA_CERTS="$CA" timeout 300 node --require "$SDK/localhost-dns.cjs" "$SDK/console-test.mjs" "https://dev.localhost:$PORT" "$TOKEN" "$READER" "${SR_BUILD_DIR:-$T}/console-shots" "$SUSER"
stop_server
echo PASS
