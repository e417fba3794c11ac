/* pbjson.c — descriptor-driven protobuf-c → json-c conversion (see pbjson.h). */
#include "clients/pbjson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct json_object *scalar(const ProtobufCFieldDescriptor *f, const void *p) {
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_object_new_int(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_object_new_int64(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_object_new_int64(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_object_new_uint64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        snprintf(buf, sizeof buf, "%.7g", (double)*(const float *)p);
        return json_object_new_double_s((double)*(const float *)p, buf);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_object_new_double(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_object_new_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return v ? json_object_new_string(v->name) : json_object_new_int(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_object_new_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return json_object_new_string_len(b->data ? (const char *)b->data : "", (int)b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? pbjson_message(m) : NULL;
    }
    }
    return NULL;
}

static size_t elem_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

struct json_object *pbjson_message(const ProtobufCMessage *m) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    struct json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *p = base + f->offset;
        struct json_object *v = NULL;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)p;
            v = json_object_new_array_ext((int)n);
            for (size_t k = 0; v && k < n; k++) {
                struct json_object *e = scalar(f, arr + k * elem_size(f));
                json_object_array_add(v, e);
            }
        } else {
            v = scalar(f, p);
            if (!v)
                continue; /* unset message */
        }
        json_object_object_add(o, f->name, v);
    }
    return o;
}

/* ---- the same JSON as text, without json objects ---- */

int pbjson_buf_put(struct pbjson_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void pbjson_buf_free(struct pbjson_buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#define PUT_LIT(b, lit) pbjson_buf_put(b, lit, sizeof lit - 1)

int pbjson_text_string(struct pbjson_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    int rc = PUT_LIT(b, "\"");
    size_t start = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue; /* '/' stays as it is: JSON_C_TO_STRING_NOSLASHESCAPE */
        char esc[7] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '\b':
            esc[1] = 'b';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        rc = pbjson_buf_put(b, s + start, i - start);
        if (rc == 0)
            rc = pbjson_buf_put(b, esc, el);
        start = i + 1;
    }
    if (rc == 0)
        rc = pbjson_buf_put(b, s + start, n - start);
    return rc ? rc : PUT_LIT(b, "\"");
}

/* The rare types go through json-c itself, so they are its bytes by construction. */
static int put_jsonc(struct pbjson_buf *b, struct json_object *o) {
    if (!o)
        return -1;
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = s ? pbjson_buf_put(b, s, strlen(s)) : -1;
    json_object_put(o);
    return rc;
}

static int text_message(const ProtobufCMessage *m, const char *skip, struct pbjson_buf *b);

/* One value; 1 when there is nothing to write (an unset sub-message). */
static int text_scalar(const ProtobufCFieldDescriptor *f, const void *p, struct pbjson_buf *b) {
    char buf[32];
    int n = -1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        n = snprintf(buf, sizeof buf, "%d", (int)*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        n = snprintf(buf, sizeof buf, "%u", (unsigned)*(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        n = snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT: /* pbjson_message's json_object_new_double_s prints this */
        n = snprintf(buf, sizeof buf, "%.7g", (double)*(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        return put_jsonc(b, json_object_new_double(*(const double *)p));
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p ? PUT_LIT(b, "true") : PUT_LIT(b, "false");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        if (v)
            return pbjson_text_string(b, v->name, strlen(v->name));
        n = snprintf(buf, sizeof buf, "%d", *(const int *)p);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s ? pbjson_text_string(b, s, strlen(s)) : PUT_LIT(b, "\"\"");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *d = p;
        return pbjson_text_string(b, d->data ? (const char *)d->data : "", d->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? text_message(m, NULL, b) : 1;
    }
    }
    return n > 0 && (size_t)n < sizeof buf ? pbjson_buf_put(b, buf, (size_t)n) : -1;
}

static int text_message(const ProtobufCMessage *m, const char *skip, struct pbjson_buf *b) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    if (PUT_LIT(b, "{") != 0)
        return -1;
    bool first = true;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *p = base + f->offset;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (skip && strcmp(f->name, skip) == 0)
            continue;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
            !*(ProtobufCMessage *const *)p)
            continue; /* unset message: no key either */
        if ((!first && PUT_LIT(b, ",") != 0) || pbjson_text_string(b, f->name, strlen(f->name)) ||
            PUT_LIT(b, ":") != 0)
            return -1;
        first = false;
        int rc = 0;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)p;
            rc = PUT_LIT(b, "[");
            for (size_t k = 0; rc == 0 && k < n; k++) {
                if (k)
                    rc = PUT_LIT(b, ",");
                if (rc == 0)
                    rc = text_scalar(f, arr + k * elem_size(f), b);
                if (rc == 1) /* a NULL element: json-c prints an added NULL as null */
                    rc = PUT_LIT(b, "null");
            }
            if (rc == 0)
                rc = PUT_LIT(b, "]");
        } else {
            rc = text_scalar(f, p, b);
        }
        if (rc != 0) /* 1 (an unset message) cannot come here: skipped above */
            return -1;
    }
    return PUT_LIT(b, "}");
}

int pbjson_text(const ProtobufCMessage *m, const char *skip, struct pbjson_buf *b) {
    return text_message(m, skip, b);
}
