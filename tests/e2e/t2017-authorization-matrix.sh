#!/usr/bin/env bash
# The authorization matrix, generated from the code's own tables so that a new operation is covered the
# day it is added: every route of src/http/router.c (with its operation's permission from the table in
# src/vault/svc.c) x every role x {its own vault's host, plain localhost (the default vault), another
# vault's host} with a token scoped to the vault, plus an unscoped Administrator on the other vault, plus
# {no token, malformed header, unknown, expired, revoked token} on every route. Each answer is checked
# against the role table of docs/api.md: 401 for a bad token, 403 for a role or scope that may not, and
# anything else (200, 400, 404 ...) when allowed: authorisation comes before any other check.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
V=api-version=7.5
$SR vault create other --region DEV --subscription-id 00000000-0000-0000-0000-00000000beef --data "$T/data" >/dev/null

# route: METHOD PATH OP; op -> permission; role -> permitted words (docs/api.md).
routes=$(sed -n 's/^ *{"\([A-Z]*\)", "\([^"]*\)", \(SR_OP_[A-Z_]*\)},$/\1 \2 \3/p' "$SR_SOURCE_DIR/src/http/router.c")
# SR_PERM_SIGN -> sign; SR_PERM_SECRET_META -> secrets/readmetadata (Key Vault's data action), SECRET_X -> secrets/x.
perm_of() {
    sed -n "s/^ *\[$1\] = {$1, \"[A-Za-z]*\", SR_PERM_\([A-Z_]*\),.*/\1/p" "$SR_SOURCE_DIR/src/vault/svc.c" |
        sed 's/^ANY_READ$/GET|SECRETS\/READMETADATA/; s/^SECRET_META$/SECRETS\/READMETADATA/; s/^SECRET_/SECRETS\//'
}
# allowed WORDS PERM: the role's words hold everything, or one of PERM's alternatives (a|b).
allowed() {
    [[ $1 == *" everything "* ]] && return 0
    local p
    for p in ${2//|/ }; do [[ $1 == *" $p "* ]] && return 0; done
    return 1
}
role_words() { # the "may" column of docs/api.md's role table, as lower-case words without "key"
    awk -F'|' -v role="$1" '$2 ~ "(^|[ ,])" role "( |,|$)" { print $3 }' "$SR_SOURCE_DIR/docs/api.md" |
        tr 'A-Z,' 'a-z ' | sed 's/key\b//g'
}
nroutes=$(printf '%s\n' "$routes" | wc -l)
# Operations that need a bearer token (the token endpoint's client authenticates in its body: t2029).
nops=$(grep '^ *\[SR_OP_[A-Z_]*\] = {' "$SR_SOURCE_DIR/src/vault/svc.c" | grep -vc '", 0, ')
[ "$nroutes" -ge "$nops" ] || fail "$nroutes routes parsed for $nops operations: the route table's shape changed"

declare -A tok
for role in Administrator "Crypto Officer" "Crypto User" "Crypto Service Encryption User" "Crypto Service Release User" Reader \
    "Secrets Officer" "Secrets User"; do
    tok[$role]=$($SR token create --role "$role" --vault dev --data "$T/data")
done
unscoped=$($SR token create --role Administrator --data "$T/data")
expired=$($SR token create --role Administrator --ttl 1 --data "$T/data")
revoked=$($SR token create --role Administrator --name to-revoke --data "$T/data")
$SR token revoke to-revoke --data "$T/data" >/dev/null
sleep 1.5

# One curl run for all requests; expected answers kept in the same order.
: > requests.cfg; : > expected.txt
add() { # add HOST AUTH-HEADER METHOD PATH EXPECT(401|403|ok) LABEL
    printf 'next\nurl = "https://%s:%s/%s%s%s"\nrequest = "%s"\nresolve = "%s:%s:127.0.0.1"\ncacert = "%s"\nsilent\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
        "$1" "$PORT" "$4" "$( [[ $4 == *\?* ]] && echo '&' || echo '?')" "$V" "$3" "$1" "$PORT" "$CA" >> requests.cfg
    [ -n "$2" ] && printf 'header = "%s"\n' "$2" >> requests.cfg
    case $3 in POST|PUT|PATCH) printf 'header = "Content-Type: application/json"\ndata = "{}"\n' >> requests.cfg ;; esac
    printf '%s %s\n' "$5" "$6" >> expected.txt
}
while read -r method pattern op; do
    path=$(printf '%s' "$pattern" | sed 's/{name}/matrixkey/; s|/{version?}||')
    perm=$(perm_of "$op" | tr 'A-Z' 'a-z')
    [ -n "$perm" ] || fail "no permission found for $op"
    for role in "${!tok[@]}"; do
        words=" $(role_words "$role") "
        if allowed "$words" "$perm"; then want=ok; else want=403; fi
        add dev.localhost "Authorization: Bearer ${tok[$role]}" "$method" "$path" "$want" "$role $op dev"
        add localhost "Authorization: Bearer ${tok[$role]}" "$method" "$path" "$want" "$role $op localhost"
        add other.localhost "Authorization: Bearer ${tok[$role]}" "$method" "$path" 403 "$role $op other-vault"
    done
    add other.localhost "Authorization: Bearer $unscoped" "$method" "$path" ok "unscoped-admin $op other-vault"
    add dev.localhost "" "$method" "$path" 401 "no-token $op"
    add dev.localhost "Authorization: Basic eDp5" "$method" "$path" 401 "malformed $op"
    add dev.localhost "Authorization: Bearer not-a-token" "$method" "$path" 401 "unknown $op"
    add dev.localhost "Authorization: Bearer $expired" "$method" "$path" 401 "expired $op"
    add dev.localhost "Authorization: Bearer $revoked" "$method" "$path" 401 "revoked $op"
done <<< "$routes"
sed -i '1d' requests.cfg # the first 'next'

step "$(wc -l < expected.txt) cases: $nroutes routes x ${#tok[@]} roles x 3 hosts, an unscoped admin, 5 bad tokens"
curl -K requests.cfg > answers.txt
[ "$(wc -l < answers.txt)" = "$(wc -l < expected.txt)" ] || fail "$(wc -l < answers.txt) answers for $(wc -l < expected.txt) requests"
bad=0
while read -r got <&3 && read -r want label <&4; do
    case $want in
        ok) [[ $got != 401 && $got != 403 && $got != 000 && $got -lt 500 ]] || { echo "  $label: $got, wanted allowed"; bad=$((bad + 1)); } ;;
        *) [ "$got" = "$want" ] || { echo "  $label: $got, wanted $want"; bad=$((bad + 1)); } ;;
    esac
done 3<answers.txt 4<expected.txt
[ "$bad" = 0 ] || fail "$bad cases of the authorization matrix answered otherwise than docs/api.md says"
stop_server
echo "PASS ($(wc -l < expected.txt) cases)"
