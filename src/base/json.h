/* json.h - the cleanup attribute for jansson values, shared by every layer that builds JSON. */
#ifndef SR_BASE_JSON_H
#define SR_BASE_JSON_H

#include <jansson.h>

#include "base/safety.h"

SR_DEFINE_CLEANUP(sr_json_decrefp, json_t, json_decref)
#define SR_AUTO_JSON SR_AUTO(sr_json_decrefp)

#endif
