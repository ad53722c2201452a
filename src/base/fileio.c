#define _GNU_SOURCE /* nftw */
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/limits.h"

static enum sr_err sr_fsync_parent(const char *path)
{
    char copy[SR_PATH_MAX];
    SR_ENSURE(strlen(path) < sizeof(copy), SR_ERR_TOO_LARGE);
    strcpy(copy, path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    int rc = fsync(fd);
    close(fd);
    SR_ENSURE(rc == 0, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        SR_ENSURE(n > 0, SR_ERR_IO);
        p += n;
        len -= (size_t)n;
    }
    return SR_OK;
}

static enum sr_err sr_write_temp(const char *tmp, const void *data, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    enum sr_err r = sr_write_all(fd, data, len);
    if (r == SR_OK && fsync(fd) != 0) {
        r = SR_ERR_IO;
    }
    if (close(fd) != 0 && r == SR_OK) {
        r = SR_ERR_IO;
    }
    return r;
}

enum sr_err sr_file_write_atomic(const char *path, const void *data, size_t len, enum sr_write_mode mode)
{
    char tmp[SR_PATH_MAX];
    unsigned char rnd[6];
    /* The suffix only has to avoid collisions between writers; O_EXCL makes it safe. */
    SR_ENSURE(getentropy(rnd, sizeof(rnd)) == 0, SR_ERR_IO);
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2], rnd[3],
                     rnd[4], rnd[5]);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(tmp), SR_ERR_TOO_LARGE);
    if (mode == SR_WRITE_CREATE && access(path, F_OK) == 0) {
        return SR_ERR_EXISTS;
    }
    enum sr_err r = sr_write_temp(tmp, data, len);
    if (r != SR_OK) {
        (void)unlink(tmp);
        return r;
    }
    if (mode == SR_WRITE_CREATE) {
        /* link() fails if path exists, so a concurrent writer cannot be overwritten either. */
        int rc = link(tmp, path);
        int saved = errno;
        (void)unlink(tmp);
        SR_ENSURE(rc == 0 || saved != EEXIST, SR_ERR_EXISTS);
        SR_ENSURE(rc == 0, SR_ERR_IO);
    } else if (rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return SR_ERR_IO;
    }
    return sr_fsync_parent(path);
}

enum sr_err sr_file_read(const char *path, struct sr_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? SR_ERR_NOT_FOUND : SR_ERR_IO;
    }
    enum sr_err r = SR_OK;
    for (;;) {
        uint8_t chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            r = SR_ERR_IO;
            break;
        }
        if (n == 0) {
            break;
        }
        r = sr_buf_append(out, chunk, (size_t)n);
        sr_wipe(chunk, (size_t)n);
        if (r != SR_OK) {
            break;
        }
    }
    close(fd);
    return r;
}

enum sr_err sr_file_remove(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        return SR_ERR_IO;
    }
    return sr_fsync_parent(path);
}

bool sr_file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int sr_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

enum sr_err sr_dir_remove_tree(const char *path)
{
    if (!sr_file_exists(path)) {
        return SR_OK;
    }
    SR_ENSURE(nftw(path, sr_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, SR_ERR_IO);
    return SR_OK;
}

enum sr_err sr_dir_make(const char *path)
{
    char copy[SR_PATH_MAX];
    size_t len = strlen(path);
    SR_ENSURE(len > 0 && len < sizeof(copy), SR_ERR_TOO_LARGE);
    memcpy(copy, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (copy[i] != '/' && copy[i] != 0) {
            continue;
        }
        char saved = copy[i];
        copy[i] = 0;
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            return SR_ERR_IO;
        }
        copy[i] = saved;
    }
    struct stat st;
    SR_ENSURE(stat(path, &st) == 0 && S_ISDIR(st.st_mode), SR_ERR_IO);
    return SR_OK;
}

enum sr_err sr_path_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

void sr_closep(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}
