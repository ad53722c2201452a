/*
 * rows.h - what every store backend does the same way with a key row read from its database: the JSON
 * columns and the blob decoded into owned members, and the soft-delete rule applied on the way out.
 */
#ifndef SR_STORE_ROWS_H
#define SR_STORE_ROWS_H

#include "vault/store.h"

/* Fills k->tags, k->blob, k->release_policy and n->rotation_policy from their columns (policy and
 * release_policy NULL = none). On failure nothing is left allocated. */
SR_MUST_USE enum sr_err sr_rows_decode(struct sr_key_row *k, struct sr_name_row *n, const char *tags,
                                       const char *policy, const char *release_policy, const char *meta,
                                       const void *blob, size_t blob_len);
/* A nullable JSON column's text: the document, or NULL for none (the caller frees it). */
SR_MUST_USE enum sr_err sr_rows_json_text(const json_t *doc, char **ret);
/* Gives the caller the row (and the name's state if ret_name), or SR_ERR_NOT_FOUND for a soft-deleted
 * name unless deleted_ok; frees what is not handed over. */
SR_MUST_USE enum sr_err sr_rows_hand_over(struct sr_key_row *k, struct sr_name_row *n, bool deleted_ok,
                                          struct sr_name_row *ret_name);

#endif
