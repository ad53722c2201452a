/* router.c - the route table: Key Vault's keys API paths, matched case-insensitively per segment. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

struct sr_route {
    const char *method;
    const char *pattern; /* segments; "{name}" and "{version}" capture, "{version?}" may be empty */
    enum sr_op op;
};

static const struct sr_route sr_routes[] = {
    {"POST", "keys/{name}/create", SR_OP_KEY_CREATE},
    {"POST", "keys/restore", SR_OP_KEY_RESTORE},
    {"PUT", "keys/{name}", SR_OP_KEY_IMPORT},
    {"GET", "keys", SR_OP_KEY_LIST},
    {"GET", "keys/{name}/versions", SR_OP_KEY_VERSIONS},
    {"GET", "keys/{name}/rotationpolicy", SR_OP_POLICY_GET},
    {"PUT", "keys/{name}/rotationpolicy", SR_OP_POLICY_PUT},
    {"POST", "keys/{name}/backup", SR_OP_KEY_BACKUP},
    {"POST", "keys/{name}/rotate", SR_OP_KEY_ROTATE},
    {"GET", "keys/{name}/{version?}/attestation", SR_OP_KEY_ATTESTATION},
    {"POST", "keys/{name}/{version?}/release", SR_OP_KEY_RELEASE},
    {"GET", "keys/{name}/{version?}", SR_OP_KEY_GET},
    {"PATCH", "keys/{name}/{version?}", SR_OP_KEY_UPDATE},
    {"DELETE", "keys/{name}", SR_OP_KEY_DELETE},
    {"POST", "keys/{name}/{version?}/sign", SR_OP_SIGN},
    {"POST", "keys/{name}/{version?}/verify", SR_OP_VERIFY},
    {"POST", "keys/{name}/{version?}/encrypt", SR_OP_ENCRYPT},
    {"POST", "keys/{name}/{version?}/decrypt", SR_OP_DECRYPT},
    {"POST", "keys/{name}/{version?}/wrapkey", SR_OP_WRAP},
    {"POST", "keys/{name}/{version?}/unwrapkey", SR_OP_UNWRAP},
    {"GET", "deletedkeys", SR_OP_DELETED_LIST},
    {"GET", "deletedkeys/{name}", SR_OP_DELETED_GET},
    {"POST", "deletedkeys/{name}/recover", SR_OP_DELETED_RECOVER},
    {"DELETE", "deletedkeys/{name}", SR_OP_DELETED_PURGE},
    {"POST", "rng", SR_OP_RNG},
    {"POST", "secrets/restore", SR_OP_SECRET_RESTORE},
    {"GET", "secrets", SR_OP_SECRET_LIST},
    {"GET", "secrets/{name}/versions", SR_OP_SECRET_VERSIONS},
    {"POST", "secrets/{name}/backup", SR_OP_SECRET_BACKUP},
    {"PUT", "secrets/{name}", SR_OP_SECRET_SET},
    {"GET", "secrets/{name}/{version?}", SR_OP_SECRET_GET},
    {"PATCH", "secrets/{name}/{version?}", SR_OP_SECRET_UPDATE},
    {"DELETE", "secrets/{name}", SR_OP_SECRET_DELETE},
    {"GET", "deletedsecrets", SR_OP_SECRET_DELETED_LIST},
    {"GET", "deletedsecrets/{name}", SR_OP_SECRET_DELETED_GET},
    {"POST", "deletedsecrets/{name}/recover", SR_OP_SECRET_RECOVER},
    {"DELETE", "deletedsecrets/{name}", SR_OP_SECRET_PURGE},
    {"GET", "byok/vault", SR_OP_VAULT_SHOW},
    {"GET", "audit", SR_OP_AUDIT_LIST},
};

/* Managed HSM's access control, after a scope ("", "/keys", "/keys/K": sr_route_rbac splits it off). */
static const struct sr_route sr_rbac_routes[] = {
    {"GET", "providers/Microsoft.Authorization/roleDefinitions", SR_OP_ROLE_DEFINITIONS},
    {"GET", "providers/Microsoft.Authorization/roleDefinitions/{name}", SR_OP_ROLE_DEFINITION_GET},
    {"GET", "providers/Microsoft.Authorization/roleAssignments", SR_OP_ROLE_ASSIGNMENTS},
    {"GET", "providers/Microsoft.Authorization/roleAssignments/{name}", SR_OP_ROLE_ASSIGNMENT_GET},
    {"PUT", "providers/Microsoft.Authorization/roleAssignments/{name}", SR_OP_ROLE_ASSIGNMENT_PUT},
    {"DELETE", "providers/Microsoft.Authorization/roleAssignments/{name}", SR_OP_ROLE_ASSIGNMENT_DELETE},
};

#define SR_MAX_SEGMENTS 8

/* Splits "/keys/a/b/" into segments; a trailing slash yields a final empty segment ("latest" version).
 * *overflow: too many segments, or one longer than any name (*too_long then). */
static size_t sr_split(const char *path, char segs[SR_MAX_SEGMENTS][SR_MAX_NAME + 2], bool *overflow, bool *too_long)
{
    size_t n = 0;
    *overflow = *too_long = false;
    if (*path == '/') {
        path++;
    }
    for (;;) {
        size_t len = strcspn(path, "/");
        if (n == SR_MAX_SEGMENTS || len > SR_MAX_NAME + 1) {
            *overflow = true;
            *too_long = len > SR_MAX_NAME + 1;
            return n;
        }
        memcpy(segs[n], path, len);
        segs[n++][len] = 0;
        if (path[len] == 0) {
            return n;
        }
        path += len + 1;
    }
}

static size_t sr_split_pattern(const char *pattern, const char *parts[SR_MAX_SEGMENTS], size_t lens[SR_MAX_SEGMENTS])
{
    size_t n = 0;
    while (*pattern && n < SR_MAX_SEGMENTS) {
        size_t len = strcspn(pattern, "/");
        parts[n] = pattern;
        lens[n++] = len;
        pattern += len + (pattern[len] == '/');
    }
    return n;
}

static bool sr_is(const char *part, size_t len, const char *what)
{
    return strlen(what) == len && strncmp(part, what, len) == 0;
}

/* "{version?}" may be empty ("keys/k//sign", "keys/k/") or absent ("keys/k/sign", "keys/k"): both mean latest. */
static bool sr_pattern_matches(const char *pattern, char segs[SR_MAX_SEGMENTS][SR_MAX_NAME + 2], size_t nseg,
                               struct sr_route_match *m)
{
    const char *parts[SR_MAX_SEGMENTS];
    size_t lens[SR_MAX_SEGMENTS];
    size_t np = sr_split_pattern(pattern, parts, lens);
    size_t skip = SR_MAX_SEGMENTS; /* pattern index of an absent optional version */
    if (np == nseg + 1) {
        for (size_t i = 0; i < np; i++) {
            skip = sr_is(parts[i], lens[i], "{version?}") ? i : skip;
        }
        if (skip == SR_MAX_SEGMENTS) {
            return false;
        }
    } else if (np != nseg) {
        return false;
    }
    m->name[0] = m->version[0] = 0;
    for (size_t i = 0, s = 0; i < np; i++) {
        if (i == skip) {
            continue;
        }
        const char *seg = segs[s++];
        if (sr_is(parts[i], lens[i], "{name}")) {
            if (seg[0] == 0) {
                return false;
            }
            snprintf(m->name, sizeof(m->name), "%s", seg);
        } else if (sr_is(parts[i], lens[i], "{version?}")) {
            snprintf(m->version, sizeof(m->version), "%s", seg);
        } else if (strlen(seg) != lens[i] || strncasecmp(seg, parts[i], lens[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* The first route of table that path matches, with method: SR_ERR_METHOD if only with another method. */
static enum sr_err sr_route_find(const struct sr_route *table, size_t n, const char *method,
                                 char segs[SR_MAX_SEGMENTS][SR_MAX_NAME + 2], size_t nseg, struct sr_route_match *ret)
{
    bool path_known = false;
    for (size_t i = 0; i < n; i++) {
        struct sr_route_match m = {0};
        if (!sr_pattern_matches(table[i].pattern, segs, nseg, &m)) {
            continue;
        }
        path_known = true;
        if (strcmp(method, table[i].method) == 0) {
            m.op = table[i].op;
            memcpy(m.scope, ret->scope, sizeof(m.scope));
            *ret = m;
            return SR_OK;
        }
    }
    return path_known ? SR_ERR_METHOD : SR_ERR_ROUTE;
}

enum sr_err sr_route_match(const char *method, const char *path, struct sr_route_match *ret)
{
    char segs[SR_MAX_SEGMENTS][SR_MAX_NAME + 2];
    bool overflow = false, too_long = false;
    memset(ret->scope, 0, sizeof(ret->scope));
    /* {scope}/providers/...: the scope (any number of segments) is the operation's argument, not the route. */
    static const char marker[] = "/providers/Microsoft.Authorization/";
    const char *rbac = strcasestr(path, marker);
    if (rbac != NULL) {
        SR_ENSURE((size_t)(rbac - path) < sizeof(ret->scope), SR_ERR_ROUTE);
        memcpy(ret->scope, path, (size_t)(rbac - path));
        size_t n = sr_split(rbac + 1, segs, &overflow, &too_long);
        SR_ENSURE(!overflow && n > 0, SR_ERR_ROUTE);
        return sr_route_find(sr_rbac_routes, SR_ARRAY_LEN(sr_rbac_routes), method, segs, n, ret);
    }
    size_t n = sr_split(path, segs, &overflow, &too_long);
    /* A key name longer than Key Vault allows is the caller's mistake (400), not a path we lack (404). */
    SR_ENSURE(!(too_long && n == 1 && strcmp(segs[0], "keys") == 0), SR_ERR_KEY_NAME);
    SR_ENSURE(!(too_long && n == 1 && strcmp(segs[0], "secrets") == 0), SR_ERR_KV_SECRET_NAME);
    SR_ENSURE(!overflow && n > 0, SR_ERR_ROUTE);
    return sr_route_find(sr_routes, SR_ARRAY_LEN(sr_routes), method, segs, n, ret);
}

bool sr_api_version_ok(const char *v)
{
    static const char *const versions[] = {"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"};
    if (v == NULL) {
        return false;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(versions); i++) {
        size_t len = strlen(versions[i]);
        if (strcmp(v, versions[i]) == 0) {
            return true;
        }
        /* The SDKs also send previews of these, e.g. 7.6-preview.2. */
        if (strncmp(v, versions[i], len) == 0 && strncmp(v + len, "-preview", 8) == 0 && strlen(v) <= len + 11) {
            return true;
        }
    }
    return false;
}

enum sr_err sr_host_parse(const char *host, const char *default_vault, char *vault, size_t vcap, char *resource,
                          size_t rcap)
{
    char name[256];
    SR_ENSURE(host != NULL && *host != 0 && strlen(host) < sizeof(name), SR_ERR_HOST_UNKNOWN);
    /* It becomes the challenge's resource and every kid's base: only the names this server's certificate
     * carries are answered (localhost, <vault>.localhost, 127.0.0.1, [::1]), so a forged Host is never
     * reflected into a kid, a nextLink or the challenge. */
    SR_ENSURE(strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == strlen(host),
              SR_ERR_HOST_UNKNOWN);
    /* The port stays in the resource: Python's SDK checks that the request's host:port ends with "." and the
     * resource's host:port (Node's compares host names only). */
    bool bracketed = host[0] == '[';
    const char *port = bracketed ? strstr(host, "]:") : strchr(host, ':');
    port = port == NULL ? "" : port + bracketed;
    size_t len = bracketed ? strcspn(host, "]") + 1 : strcspn(host, ":");
    SR_ENSURE(port[0] == 0 || (port[0] == ':' && port[1] != 0 && strspn(port + 1, "0123456789") == strlen(port + 1)),
              SR_ERR_HOST_UNKNOWN);
    memcpy(name, host, len);
    name[len] = 0;
    if (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0) {
        snprintf(vault, vcap, "%s", default_vault);
        snprintf(resource, rcap, "https://localhost%s", port);
        return SR_OK;
    }
    /* <vault>.localhost: the SDK checks that the host ends with "." + the resource's host. */
    static const char suffix[] = ".localhost";
    size_t label = len > strlen(suffix) ? len - strlen(suffix) : 0;
    SR_ENSURE(label > 0 && strcasecmp(name + label, suffix) == 0 && memchr(name, '.', label) == NULL && label < vcap,
              SR_ERR_HOST_UNKNOWN);
    memcpy(vault, name, label);
    vault[label] = 0;
    snprintf(resource, rcap, "https://localhost%s", port);
    return SR_OK;
}
