/*
 * testlib.h - helpers for the unit tests: scratch directories, a module with
 * a world in one call, reading Wycheproof files, running the CLI in-process
 * with its output captured. Never linked into strongroom.
 */
#ifndef SR_TESTLIB_H
#define SR_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "hsm/module.h"

#define SR_ASSERT_OK(expr) assert_int_equal(SR_OK, (expr))
#define SR_ASSERT_ERR(code, expr) assert_int_equal((code), (expr))

/* Makes a fresh directory under $TMPDIR and returns its path (static storage per call site is the caller's). */
void sr_test_tmpdir(char *out, size_t cap);
void sr_test_rmrf(const char *path);
/* Writes text to dir/name and returns the path in out. */
void sr_test_write_file(const char *dir, const char *name, const char *text, char *out, size_t cap);
void sr_test_read_file(const char *path, struct sr_buf *out);
/* Returns pins "pin-1".."pin-n" for cards 1..n. */
void sr_test_pins(struct sr_pins *pins, unsigned n);
/* Opens a module in dir, creates a K-of-N world (mode I then back to O) with sr_test_pins. */
struct sr_module *sr_test_module_with_world(const char *dir, unsigned k, unsigned n, struct sr_world_info *ret);
/* Loads a Wycheproof JSON file from SR_VECTORS_DIR; fails the test if it is missing. */
json_t *sr_test_vectors(const char *name);
/* Decodes hex into a plain buffer (test data only). */
void sr_test_hex(const char *hex, struct sr_buf *out);
/* Runs sr_cli_main(argv) with STRONGROOM_KMDATA=kmdata, capturing stdout and stderr. Returns exit status. */
int sr_test_cli(const char *kmdata, struct sr_buf *out, struct sr_buf *err, const char *arg0, ...);
/* Snapshot of every file (path, size, SHA-256) under dir, to prove a refusal changed nothing. */
void sr_test_tree_digest(const char *dir, char out[65]);
/* Fails the test if any file under dir holds needle; also checks every file is private (mode 0600). */
void sr_test_assert_absent(const char *dir, const uint8_t *needle, size_t n, const char *what);
/* Whether the tests run on PostgreSQL (tests/pg/with-pg.sh set SR_TEST_PG_BASE) rather than SQLite. */
bool sr_test_on_pg(void);
struct sr_store;
/* A SQLite data directory with one region (1-of-1 cards "pin-1", 2048-bit KEK) and its toolset; the open
 * store (the caller closes it). Aborts on failure, so fuzz set-ups can use it too. */
struct sr_store *sr_test_data_with_region(const char *dir, const char *region);
struct sr_store;
/* A new, empty store for a test: SQLite in dir, or a new PostgreSQL database when sr_test_on_pg(). */
void sr_test_store_open(const char *dir, struct sr_store **ret);
/* The same store again (a second connection to it, or after closing it); try_ returns the outcome. */
void sr_test_store_reopen(const char *dir, struct sr_store **ret);
enum sr_err sr_test_store_try_reopen(const char *dir, struct sr_store **ret);
/* Runs SQL on the test's store behind its back (to age a schema, or to damage a row). */
void sr_test_store_sql(const char *dir, const char *sql);
/* True when needle occurs in hay. */
/* A compact JWS of header and claims (both taken) signed by key with alg, as a string the caller frees; aborts on
 * failure. */
char *sr_test_jws(EVP_PKEY *key, enum sr_sign_alg alg, json_t *header, json_t *claims);
int sr_test_contains(const uint8_t *hay, size_t haylen, const uint8_t *needle, size_t nlen);

#endif
