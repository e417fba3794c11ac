/* pbjson.h — any protobuf-c message as a json-c object, driven by its descriptor, so the CLI
 * prints every result type (and every field added later) without per-message code.
 * Conventions: field names as in socle.proto; enums by name; bytes as strings (they hold
 * UTF-8 text); floats with 7 significant digits; scalars always present (0 included);
 * unset sub-messages and the oneof members not chosen are left out. */
#ifndef SOCLE_PBJSON_H
#define SOCLE_PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* New json object (caller owns, json_object_put), or NULL on allocation failure. */
struct json_object *pbjson_message(const ProtobufCMessage *m);

#endif
