/* rows.c - key rows decoded and handed over the same way by every backend (see rows.h). */
#include "store/rows.h"

enum sr_err sr_rows_decode(struct sr_key_row *k, struct sr_name_row *n, const char *tags, const char *policy,
                           const char *release_policy, const char *meta, const void *blob, size_t blob_len)
{
    k->tags = json_loads(tags ? tags : "{}", 0, NULL);
    sr_buf_init(&k->blob, SR_MAX_FILE, SR_BUF_PLAIN);
    n->rotation_policy = policy ? json_loads(policy, 0, NULL) : NULL;
    k->release_policy = release_policy ? json_loads(release_policy, 0, NULL) : NULL;
    k->meta = meta ? json_loads(meta, 0, NULL) : NULL;
    enum sr_err r = k->tags != NULL && (policy == NULL || n->rotation_policy != NULL) &&
                            (release_policy == NULL || k->release_policy != NULL) && (meta == NULL || k->meta != NULL)
                        ? SR_OK
                        : SR_ERR_IO;
    if (r == SR_OK) {
        r = sr_buf_append(&k->blob, blob, blob_len);
    }
    if (r != SR_OK) {
        sr_key_row_release(k);
        sr_name_row_release(n);
    }
    return r;
}

enum sr_err sr_rows_hand_over(struct sr_key_row *k, struct sr_name_row *n, bool deleted_ok,
                              struct sr_name_row *ret_name)
{
    if (n->deleted != 0 && !deleted_ok) {
        sr_key_row_release(k);
        sr_name_row_release(n);
        return SR_ERR_NOT_FOUND;
    }
    if (ret_name != NULL) {
        *ret_name = *n;
    } else {
        sr_name_row_release(n);
    }
    return SR_OK;
}

enum sr_err sr_rows_json_text(const json_t *doc, char **ret)
{
    *ret = NULL;
    if (doc != NULL) {
        *ret = json_dumps(doc, JSON_COMPACT);
        SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    }
    return SR_OK;
}
