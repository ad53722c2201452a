/*
 * fileio.h - files are written atomically with mode 0600, and read with a bound.
 *
 * sr_file_write_atomic() writes "<path>.tmp.XXXXXX" (O_EXCL, 0600), fsyncs it,
 * then renames it over path (SR_WRITE_REPLACE) or links it to path so that an
 * existing file is never replaced (SR_WRITE_CREATE: SR_ERR_EXISTS), and fsyncs
 * the directory. A reader sees the old file or the new one, never a mix; a
 * crash leaves at most a stray temp file that no reader looks at.
 */
#ifndef SR_BASE_FILEIO_H
#define SR_BASE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

enum sr_write_mode { SR_WRITE_REPLACE, SR_WRITE_CREATE };

SR_MUST_USE enum sr_err sr_file_write_atomic(const char *path, const void *data, size_t len, enum sr_write_mode mode);
/* Reads the whole file into out (initialised by the caller, which picks plain or secret). */
SR_MUST_USE enum sr_err sr_file_read(const char *path, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_file_remove(const char *path);
bool sr_file_exists(const char *path);
/* Creates dir and its parents with mode 0700 where missing. */
SR_MUST_USE enum sr_err sr_dir_make(const char *path);
/* Removes a directory and everything under it (symbolic links themselves, never their targets). */
SR_MUST_USE enum sr_err sr_dir_remove_tree(const char *path);
/* snprintf into a fixed buffer; SR_ERR_TOO_LARGE when it would not fit. */
SR_MUST_USE enum sr_err sr_path_join(char *out, size_t cap, const char *dir, const char *name)
    __attribute__((nonnull));

/* SR_AUTO(sr_closep) int fd = -1: closed on every path out. */
void sr_closep(int *fd);

#endif
