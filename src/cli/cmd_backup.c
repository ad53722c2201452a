/*
 * cmd_backup.c - `strongroom backup` and `strongroom restore`: one file that holds what a server's data
 * directory needs to serve again, taken from a live server.
 *
 * The file is a zip: vault.db (a consistent snapshot made with SQLite's online backup API while the
 * server keeps writing), every region's module directory (module key, NVRAM with the loaded world key,
 * world file, key files), the manufacturer root that warrants new regions' modules (root/), the TLS CA and
 * server key (sealed under tls/km0), and manifest.json with each file's SHA-256. Not in it, by design:
 * the administrator cards and their PINs (kept apart, as the guide says), dev-token and dev-card-pin,
 * lock and change-counter files. With a PostgreSQL store the database is PostgreSQL's to back up (pg_dump or
 * base backups); the file then holds this node's files only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "cli/cli.h"
#include "crypto/crypto.h"
#include "vault/vault.h"

#define SR_BACKUP_FORMAT "strongroom-backup-1"
#define SR_BACKUP_MAX_FILES 100000
#define SR_BACKUP_MAX_ENTRY (1ull << 34)

const struct sr_opt sr_opts_backup[] = {
    {"data", NULL, true, "the server's data directory (default ./strongroom-data)"},
    {"store", NULL, true, "a postgresql:// URL: the database is then PostgreSQL's to back up (env STRONGROOM_STORE)"},
    {"out", NULL, true, "the backup file to write (mode 0600; it holds the modules: keep it like the HSM)"},
    {"force", NULL, false, "replace --out if it exists (else an existing file is never overwritten)"},
    {NULL, NULL, false, NULL},
};

const struct sr_opt sr_opts_restore[] = {
    {"in", NULL, true, "a file written by 'strongroom backup'"},
    {"data", NULL, true, "a new data directory to restore into (must not exist)"},
    {NULL, NULL, false, NULL},
};

struct sr_backup {
    zip_t *zip;
    json_t *files; /* manifest entries */
    const char *data;
};

/* Adds path as name, and its hash to the manifest. */
static enum sr_err sr_backup_add(struct sr_backup *b, const char *path, const char *name)
{
    uint8_t h[32];
    char hex[65];
    SR_TRY(sr_sha256_file(path, h));
    sr_hex_encode(h, sizeof(h), hex);
    zip_source_t *src = zip_source_file(b->zip, path, 0, 0);
    SR_ENSURE(src != NULL, SR_ERR_IO);
    if (zip_file_add(b->zip, name, src, ZIP_FL_ENC_UTF_8) < 0) {
        zip_source_free(src);
        return SR_ERR_IO;
    }
    json_t *e = json_pack("{s:s,s:s}", "name", name, "sha256", hex);
    SR_ENSURE(e != NULL && json_array_append_new(b->files, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

/* What of a data directory is never backed up: cards and secrets that live elsewhere, run-time files. */
static bool sr_backup_skips(const char *rel)
{
    static const char *const skip[] = {"serve.lock", "vault.db", "vault.db-wal", "vault.db-shm", "vault.db-changes",
                                       "dev-token", "dev-card-pin", "port"};
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    for (size_t i = 0; i < SR_ARRAY_LEN(skip); i++) {
        if (strcmp(rel, skip[i]) == 0) {
            return true;
        }
    }
    return strcmp(base, "cards") == 0 || strncmp(base, ".join-", 6) == 0 || strstr(rel, ".tmp") != NULL;
}

static enum sr_err sr_backup_tree(struct sr_backup *b, const char *rel)
{
    char dir[SR_PATH_MAX];
    SR_TRY(sr_path_join(dir, sizeof(dir), b->data, rel));
    DIR *d = opendir(dir);
    SR_ENSURE(d != NULL, SR_ERR_IO);
    enum sr_err r = SR_OK;
    struct dirent *e;
    while (r == SR_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char child[SR_PATH_MAX], path[SR_PATH_MAX];
        int n = snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        if (n <= 0 || (size_t)n >= sizeof(child) || sr_path_join(path, sizeof(path), b->data, child) != SR_OK) {
            r = SR_ERR_TOO_LARGE;
            break;
        }
        struct stat st;
        if (sr_backup_skips(child) || lstat(path, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            r = sr_backup_tree(b, child);
        } else if (S_ISREG(st.st_mode)) {
            r = json_array_size(b->files) < SR_BACKUP_MAX_FILES ? sr_backup_add(b, path, child) : SR_ERR_TOO_LARGE;
        }
    }
    closedir(d);
    return r;
}

/* The finished zip reaches the disk before it takes its name: a crash leaves the old file or the new one. */
static enum sr_err sr_fsync_rename(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    bool ok = fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    close(fd);
    SR_ENSURE(ok && rename(tmp, path) == 0, SR_ERR_IO);
    char dir[SR_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    snprintf(slash ? slash : dir, sizeof(dir) - (size_t)(slash ? slash - dir : 0), "%s", slash ? "" : ".");
    int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return SR_OK;
}

static enum sr_err sr_backup_write(struct sr_cli *cli, const char *data, bool sqlite, const char *out,
                                   const char *scratch)
{
    char tmp[SR_PATH_MAX], snap[SR_PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", out);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(tmp), SR_ERR_TOO_LARGE);
    SR_TRY(sr_path_join(snap, sizeof(snap), scratch, "vault.db"));
    (void)unlink(tmp);
    int err = 0;
    SR_AUTO_JSON json_t *files = json_array();
    SR_ENSURE(files != NULL, SR_ERR_NOMEM);
    struct sr_backup b = {.zip = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &err), .files = files, .data = data};
    if (b.zip == NULL) {
        sr_cli_detail(cli, "cannot write %s", out);
        return SR_ERR_IO;
    }
    enum sr_err r = SR_OK;
    if (sqlite) {
        r = sr_store_sqlite_snapshot(data, snap);
        if (r == SR_OK) {
            r = sr_backup_add(&b, snap, "vault.db");
        } else {
            sr_cli_detail(cli, "cannot take a snapshot of %s/vault.db", data);
        }
    }
    if (r == SR_OK) {
        r = sr_backup_tree(&b, "");
    }
    char when[32];
    sr_cli_iso_time((long long)time(NULL), when);
    SR_AUTO_FREE char *manifest = NULL;
    if (r == SR_OK) {
        SR_AUTO_JSON json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:O}", "format", SR_BACKUP_FORMAT, "created", when,
                                           "version", SR_VERSION, "database", sqlite ? "sqlite" : "postgresql",
                                           "files", files);
        manifest = m ? json_dumps(m, JSON_INDENT(2)) : NULL;
        zip_source_t *src = manifest ? zip_source_buffer(b.zip, manifest, strlen(manifest), 0) : NULL;
        if (src == NULL || zip_file_add(b.zip, "manifest.json", src, ZIP_FL_ENC_UTF_8) < 0) {
            zip_source_free(src);
            r = SR_ERR_NOMEM;
        }
    }
    if (r != SR_OK) {
        zip_discard(b.zip);
        return r;
    }
    /* zip_close reads the sources now: the snapshot must still be there. */
    if (zip_close(b.zip) != 0) {
        zip_discard(b.zip);
        sr_cli_detail(cli, "cannot write %s", out);
        return SR_ERR_IO;
    }
    SR_TRY(sr_fsync_rename(tmp, out));
    fprintf(cli->out, "Backup %s: %zu files%s, %s.\n", out, json_array_size(files),
            sqlite ? " (the SQLite store, a consistent snapshot)" : "",
            "with every region's module: keep it as you keep the HSM");
    if (!sqlite) {
        fprintf(cli->out, "The database is PostgreSQL: back it up with pg_dump or base backups, not here.\n");
    }
    fprintf(cli->out, "Kept elsewhere, not in it: the regions' administrator cards and their PINs.\n");
    return SR_OK;
}

enum sr_err sr_cmd_backup(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_backup;
    const char *data = sr_arg(args, o, "data") ? sr_arg(args, o, "data") : "strongroom-data";
    const char *out = sr_arg(args, o, "out");
    if (out == NULL) {
        sr_cli_detail(cli, "--out FILE is required");
        return SR_ERR_USAGE;
    }
    /* As restore never writes over a directory: an earlier backup is not replaced by mistake. */
    if (sr_file_exists(out) && !sr_arg_set(args, o, "force")) {
        sr_cli_detail(cli, "%s exists: give another --out, or --force to replace it", out);
        return SR_ERR_EXISTS;
    }
    const char *url = sr_arg(args, o, "store") ? sr_arg(args, o, "store") : secure_getenv("STRONGROOM_STORE");
    bool sqlite = url == NULL || *url == 0 || !sr_store_is_pg_url(url);
    char db[SR_PATH_MAX];
    SR_TRY(sr_path_join(db, sizeof(db), data, sqlite ? "vault.db" : "regions"));
    if (!sr_file_exists(db)) {
        sr_cli_detail(cli, "%s is not a Strongroom data directory (no %s)", data, db);
        return SR_ERR_NOT_FOUND;
    }
    char scratch[] = "/tmp/strongroom-backup.XXXXXX";
    SR_ENSURE(mkdtemp(scratch) != NULL, SR_ERR_IO);
    enum sr_err r = sr_backup_write(cli, data, sqlite, out, scratch);
    (void)!sr_dir_remove_tree(scratch);
    return r;
}

/* --- restore --- */

/* A name from the archive is a relative path inside it: no "..", no absolute path, no empty part. */
static bool sr_safe_name(const char *name)
{
    if (name[0] == 0 || name[0] == '/' || strstr(name, "//") != NULL || name[strlen(name) - 1] == '/') {
        return false;
    }
    for (const char *p = name; p != NULL; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == 0)) {
            return false;
        }
    }
    return true;
}

static enum sr_err sr_restore_entry(zip_t *z, const char *name, const char *want_hex, const char *dir)
{
    SR_ENSURE(sr_safe_name(name), SR_ERR_MALFORMED);
    zip_stat_t st;
    SR_ENSURE(zip_stat(z, name, 0, &st) == 0 && st.size < SR_BACKUP_MAX_ENTRY, SR_ERR_MALFORMED);
    SR_AUTO_BUF struct sr_buf data = {0};
    sr_buf_init(&data, SR_BACKUP_MAX_ENTRY, SR_BUF_SECRET);
    SR_TRY(sr_buf_reserve(&data, st.size ? st.size : 1));
    zip_file_t *f = zip_fopen(z, name, 0);
    SR_ENSURE(f != NULL, SR_ERR_MALFORMED);
    zip_int64_t got = zip_fread(f, data.data, st.size);
    zip_fclose(f);
    SR_ENSURE(got == (zip_int64_t)st.size, SR_ERR_TRUNCATED);
    data.len = st.size;
    uint8_t h[32];
    char hex[65];
    SR_TRY(sr_sha256(data.data, data.len, h));
    sr_hex_encode(h, sizeof(h), hex);
    SR_ENSURE(want_hex != NULL && strlen(want_hex) == 64 && sr_ct_equal(hex, want_hex, 64), SR_ERR_BACKUP_ALTERED);
    char path[SR_PATH_MAX];
    SR_TRY(sr_path_join(path, sizeof(path), dir, name));
    for (char *s = strchr(path + strlen(dir) + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = 0;
        enum sr_err r = sr_dir_make(path);
        *s = '/';
        SR_TRY(r);
    }
    return sr_file_write_atomic(path, data.data, data.len, SR_WRITE_REPLACE);
}

static enum sr_err sr_restore_into(struct sr_cli *cli, const char *in, const char *staging, size_t *ret_files)
{
    int err = 0;
    zip_t *z = zip_open(in, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (z == NULL) {
        sr_cli_detail(cli, "%s is not a backup file (not a zip)", in);
        return SR_ERR_MALFORMED;
    }
    enum sr_err r = SR_ERR_MALFORMED;
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 64u << 20, SR_BUF_PLAIN);
    zip_stat_t st;
    zip_file_t *f = NULL;
    if (zip_stat(z, "manifest.json", 0, &st) == 0 && st.size < (64u << 20) && sr_buf_reserve(&text, st.size + 1) == SR_OK &&
        (f = zip_fopen(z, "manifest.json", 0)) != NULL && zip_fread(f, text.data, st.size) == (zip_int64_t)st.size) {
        text.len = st.size;
        r = SR_OK;
    }
    if (f != NULL) {
        zip_fclose(f);
    }
    SR_AUTO_JSON json_t *m = r == SR_OK ? json_loadb((const char *)text.data, text.len, 0, NULL) : NULL;
    const json_t *files = json_object_get(m, "files");
    if (!json_is_array(files) || !json_is_string(json_object_get(m, "format")) ||
        strcmp(json_string_value(json_object_get(m, "format")), SR_BACKUP_FORMAT) != 0) {
        sr_cli_detail(cli, "%s has no %s manifest", in, SR_BACKUP_FORMAT);
        zip_discard(z);
        return SR_ERR_MALFORMED;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(files, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        r = name ? sr_restore_entry(z, name, json_string_value(json_object_get(e, "sha256")), staging)
                 : SR_ERR_MALFORMED;
        if (r != SR_OK) {
            sr_cli_detail(cli, "%s: %s is missing, altered or unsafe", in, name ? name : "an entry");
            break;
        }
    }
    *ret_files = json_array_size(files);
    zip_discard(z);
    return r;
}

enum sr_err sr_cmd_restore(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_restore;
    const char *in = sr_arg(args, o, "in");
    const char *data = sr_arg(args, o, "data");
    if (in == NULL || data == NULL) {
        sr_cli_detail(cli, "--in FILE and --data NEWDIR are required");
        return SR_ERR_USAGE;
    }
    if (sr_file_exists(data)) {
        sr_cli_detail(cli, "%s exists: restore into a new directory, then point the server at it", data);
        return SR_ERR_EXISTS;
    }
    char staging[SR_PATH_MAX];
    int n = snprintf(staging, sizeof(staging), "%s.restoring", data);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(staging), SR_ERR_TOO_LARGE);
    (void)!sr_dir_remove_tree(staging);
    SR_TRY(sr_dir_make(staging));
    size_t count = 0;
    enum sr_err r = sr_restore_into(cli, in, staging, &count);
    long long entries = 0, bad = 0;
    char db[SR_PATH_MAX];
    if (r == SR_OK && sr_path_join(db, sizeof(db), staging, "vault.db") == SR_OK && sr_file_exists(db)) {
        /* The store opens (its schema checked and brought up to date) and its audit chain verifies. */
        struct sr_store *store = NULL;
        r = sr_store_open(NULL, staging, &store);
        if (r == SR_OK) {
            r = sr_audit_verify(store, &entries, &bad);
            store->ops->close(store);
        }
        if (r != SR_OK) {
            sr_cli_detail(cli, "the restored store does not open or its audit chain does not verify");
        }
    }
    if (r == SR_OK && rename(staging, data) != 0) {
        r = SR_ERR_IO;
    }
    if (r != SR_OK) {
        (void)!sr_dir_remove_tree(staging);
        return r;
    }
    fprintf(cli->out, "Restored %zu files into %s; audit log: %lld entries, hash chain intact.\n"
                      "Start it with: strongroom serve --data %s\n", count, data, entries, data);
    return SR_OK;
}
