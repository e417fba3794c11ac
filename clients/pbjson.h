/* pbjson.h — any protobuf-c message as JSON, driven by its descriptor, so the CLI prints every
 * result type (and every field added later) without per-message code.
 * Conventions: field names as in socle.proto; enums by name; bytes as strings (they hold
 * UTF-8 text); floats with 7 significant digits; scalars always present (0 included);
 * unset sub-messages and the oneof members not chosen are left out.
 *
 * Two ways to the same bytes: pbjson_message builds a json-c object (for output that is
 * edited before printing); pbjson_text writes the text straight into a buffer, the bytes
 * json-c would print for pbjson_message's object with JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE, without a json object per field (`socle batch` writes one
 * line per document and that allocation was most of its per-document cost). */
#ifndef SOCLE_PBJSON_H
#define SOCLE_PBJSON_H

#include <stddef.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* New json object (caller owns, json_object_put), or NULL on allocation failure. */
struct json_object *pbjson_message(const ProtobufCMessage *m);

/* A growing byte buffer; zero-initialize. p is NUL-terminated once anything was put. */
struct pbjson_buf {
    char *p;
    size_t len, cap;
};
/* Append n bytes. 0, or -1 out of memory (the buffer keeps what it had). */
int pbjson_buf_put(struct pbjson_buf *b, const char *s, size_t n);
void pbjson_buf_free(struct pbjson_buf *b);

/* Append m as JSON text (see above), leaving out the top-level field named `skip` (NULL:
 * none). 0, or -1 out of memory (b then holds a partial text: reset b->len). */
int pbjson_text(const ProtobufCMessage *m, const char *skip, struct pbjson_buf *b);
/* printf("%.7g", (double)f) into buf (32 bytes): the text pbjson gives a float. Exact by
 * construction where it can tell, printf itself near a rounding tie and for 0, NaN, inf and
 * magnitudes beyond 1e±22. Returns the length. */
size_t pbjson_float_text(float f, char *buf);
/* Append s[0..n) as a JSON string, quoted and escaped as json-c does. 0 or -1. */
int pbjson_text_string(struct pbjson_buf *b, const char *s, size_t n);

#endif
