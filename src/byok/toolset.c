/* toolset.c - KeyVault-BYOK-Tools-<Region>.zip (both packages and a README) and file hashes. */
#include <stdio.h>
#include <string.h>

#include <zip.h>

#include "base/fileio.h"
#include "base/text.h"
#include "byok/byok.h"
#include "crypto/crypto.h"

#define SR_MAX_TOOLSET_ENTRY (1024u * 1024u)

static const char sr_toolset_readme[] =
    "Strongroom BYOK toolset\n"
    "=======================\n\n"
    "BYOK-KEK-pkg-<REGION>-1            the region's Key Exchange Key: public key, import-only ACL,\n"
    "                                   attested by the region's module\n"
    "BYOK-SecurityWorld-pkg-<REGION>-1  the region's security world, attested by the same module\n\n"
    "1. Check this zip's SHA-256 against the published list (strongroom toolset hash FILE).\n"
    "2. Pin the vault operator's root fingerprint, received out of band: strongroom root trust FP\n"
    "3. strongroom verifykeypackage -k BYOK-KEK-pkg-<REGION>-1 -w BYOK-SecurityWorld-pkg-<REGION>-1\n"
    "4. strongroom keytransfer modify-acls ... and strongroom keytransfer package ...\n"
    "See docs/byok-walkthrough.md and docs/formats.md (how to verify the packages with openssl alone).\n";

void sr_toolset_name(const char *region, char *out, size_t cap)
{
    snprintf(out, cap, "KeyVault-BYOK-Tools-%s.zip", region);
}

static enum sr_err sr_zip_add_file(zip_t *z, const char *dir, const char *name)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_path_join(path, sizeof(path), dir, name));
    zip_source_t *src = zip_source_file(z, path, 0, 0);
    SR_ENSURE(src != NULL, SR_ERR_IO);
    if (zip_file_add(z, name, src, ZIP_FL_OVERWRITE) < 0) {
        zip_source_free(src);
        return SR_ERR_IO;
    }
    return SR_OK;
}

enum sr_err sr_toolset_make(const char *package_dir, const char *region, const char *zip_path)
{
    char tmp[SR_PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", zip_path);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(tmp), SR_ERR_TOO_LARGE);
    (void)remove(tmp);
    int err = 0;
    zip_t *z = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &err);
    SR_ENSURE(z != NULL, SR_ERR_IO);
    char kek[128], sw[128];
    sr_package_names(region, kek, sw, sizeof(kek));
    enum sr_err r = sr_zip_add_file(z, package_dir, kek);
    if (r == SR_OK) {
        r = sr_zip_add_file(z, package_dir, sw);
    }
    zip_source_t *readme = r == SR_OK ? zip_source_buffer(z, sr_toolset_readme, strlen(sr_toolset_readme), 0) : NULL;
    if (r == SR_OK && (readme == NULL || zip_file_add(z, "README.txt", readme, ZIP_FL_OVERWRITE) < 0)) {
        zip_source_free(readme);
        r = SR_ERR_IO;
    }
    if (r != SR_OK) {
        zip_discard(z);
        return r;
    }
    SR_ENSURE(zip_close(z) == 0, SR_ERR_IO);
    /* libzip wrote tmp; make the published name appear whole or not at all. */
    SR_AUTO_BUF struct sr_buf bytes = {0};
    sr_buf_init(&bytes, 4u * SR_MAX_TOOLSET_ENTRY, SR_BUF_PLAIN);
    SR_TRY(sr_file_read(tmp, &bytes));
    (void)remove(tmp);
    return sr_file_write_atomic(zip_path, bytes.data, bytes.len, SR_WRITE_REPLACE);
}

enum sr_err sr_toolset_unpack(const char *zip_path, const char *dir)
{
    int err = 0;
    zip_t *z = zip_open(zip_path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    SR_ENSURE(z != NULL, SR_ERR_PACKAGE);
    enum sr_err r = sr_dir_make(dir);
    zip_int64_t count = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; r == SR_OK && i < count && i < 16; i++) {
        zip_stat_t st;
        if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) != 0 || st.size > SR_MAX_TOOLSET_ENTRY ||
            strchr(st.name, '/') != NULL || st.name[0] == '.' || strlen(st.name) > 128) {
            r = SR_ERR_PACKAGE; /* no paths, no dot files, no giants: nothing lands outside dir */
            break;
        }
        zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
        struct sr_buf data;
        sr_buf_init(&data, SR_MAX_TOOLSET_ENTRY, SR_BUF_PLAIN);
        r = f != NULL && sr_buf_reserve(&data, st.size) == SR_OK ? SR_OK : SR_ERR_PACKAGE;
        if (r == SR_OK && zip_fread(f, data.data, st.size) != (zip_int64_t)st.size) {
            r = SR_ERR_PACKAGE;
        }
        data.len = (size_t)st.size;
        if (f != NULL) {
            zip_fclose(f);
        }
        char path[SR_PATH_MAX];
        if (r == SR_OK && (r = sr_path_join(path, sizeof(path), dir, st.name)) == SR_OK) {
            r = sr_file_write_atomic(path, data.data, data.len, SR_WRITE_REPLACE);
        }
        sr_buf_release(&data);
    }
    zip_discard(z);
    return r;
}

enum sr_err sr_file_sha256(const char *path, char hex_upper[65])
{
    uint8_t h[32];
    SR_TRY(sr_sha256_file(path, h));
    sr_hex_encode(h, sizeof(h), hex_upper);
    for (char *p = hex_upper; *p; p++) {
        *p = (char)(*p >= 'a' ? *p - 32 : *p);
    }
    return SR_OK;
}
