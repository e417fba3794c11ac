/* pbjson.c — descriptor-driven protobuf-c → json-c conversion (see pbjson.h). */
#include "clients/pbjson.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Room for n more bytes and the NUL. 0 or -1. */
static int buf_reserve(struct pbjson_buf *b, size_t n) {
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
    return 0;
}

int pbjson_buf_put(struct pbjson_buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n) != 0)
        return -1;
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
    /* room for the worst case (every byte \u00XX) once, then plain stores */
    if (n > (SIZE_MAX - 3) / 6 || buf_reserve(b, 6 * n + 2) != 0)
        return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c; /* '/' stays as it is: JSON_C_TO_STRING_NOSLASHESCAPE */
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '\b':
            *o++ = 'b';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return 0;
}

/* Decimal text of v, '-' first when neg; buf has room for 21 bytes. Returns the length. */
static size_t fmt_u64(char *buf, uint64_t v, bool neg) {
    char t[20];
    size_t n = 0, k = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (neg)
        buf[k++] = '-';
    while (n)
        buf[k++] = t[--n];
    return k;
}

static size_t fmt_i64(char *buf, int64_t v) {
    return v < 0 ? fmt_u64(buf, 0 - (uint64_t)v, true) : fmt_u64(buf, (uint64_t)v, false);
}

size_t pbjson_float_text(float f, char *buf) {
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    double d = fabs((double)f);
    if (!isfinite(d) || d == 0)
        return (size_t)snprintf(buf, 32, "%.7g", (double)f);
    /* x = d * 10^(6-e) in [1e6, 1e7): one correctly rounded multiply or divide by an exact
     * power of ten, so x is within ~1e-9 of the true value; its 7 digits round like printf's
     * unless x sits within 1e-6 of a tie, which goes to printf itself. */
    int e = (int)floor(log10(d)), k = 0;
    double x = 0;
    for (int tries = 0; tries < 3; tries++) {
        k = 6 - e;
        if (k > 22 || k < -22)
            return (size_t)snprintf(buf, 32, "%.7g", (double)f);
        x = k >= 0 ? d * p10[k] : d / p10[-k];
        if (x >= 1e7)
            e++;
        else if (x < 1e6)
            e--;
        else
            break;
    }
    double r = floor(x), frac = x - r;
    if (x < 1e6 || x >= 1e7 || fabs(frac - 0.5) < 1e-6)
        return (size_t)snprintf(buf, 32, "%.7g", (double)f);
    uint64_t m = (uint64_t)r + (frac > 0.5);
    if (m == 10000000) {
        m = 1000000;
        e++;
    }
    char dig[8];
    for (int i = 6; i >= 0; i--, m /= 10)
        dig[i] = (char)('0' + m % 10);
    int nd = 7; /* %g drops trailing zeros */
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    size_t n = 0;
    if (f < 0)
        buf[n++] = '-';
    if (e >= -4 && e < 7) { /* %g's fixed form */
        if (e >= 0) {
            for (int i = 0; i <= e; i++)
                buf[n++] = dig[i];
            if (nd > e + 1)
                buf[n++] = '.';
            for (int i = e + 1; i < nd; i++)
                buf[n++] = dig[i];
        } else {
            buf[n++] = '0';
            buf[n++] = '.';
            for (int i = 0; i < -e - 1; i++)
                buf[n++] = '0';
            for (int i = 0; i < nd; i++)
                buf[n++] = dig[i];
        }
    } else { /* exponent form: d[.ddd]e±XX */
        buf[n++] = dig[0];
        if (nd > 1)
            buf[n++] = '.';
        for (int i = 1; i < nd; i++)
            buf[n++] = dig[i];
        buf[n++] = 'e';
        buf[n++] = e < 0 ? '-' : '+';
        int ae = e < 0 ? -e : e;
        if (ae < 10)
            buf[n++] = '0';
        n += fmt_u64(buf + n, (uint64_t)ae, false);
    }
    buf[n] = '\0';
    return n;
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
    size_t n = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        n = fmt_i64(buf, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        n = fmt_u64(buf, *(const uint32_t *)p, false);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        n = fmt_i64(buf, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        n = fmt_u64(buf, *(const uint64_t *)p, false);
        break;
    case PROTOBUF_C_TYPE_FLOAT: /* pbjson_message's json_object_new_double_s prints this */
        n = pbjson_float_text(*(const float *)p, buf);
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
        n = fmt_i64(buf, *(const int *)p);
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
    return pbjson_buf_put(b, buf, n);
}

/* [","]"name": — a protobuf field name is an identifier ([A-Za-z_][A-Za-z0-9_]*), which
 * JSON never escapes: copied as it is. */
static int put_key(struct pbjson_buf *b, const char *name, bool first) {
    size_t n = strlen(name);
    if (buf_reserve(b, n + 4) != 0)
        return -1;
    char *o = b->p + b->len;
    if (!first)
        *o++ = ',';
    *o++ = '"';
    memcpy(o, name, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return 0;
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
        if (put_key(b, f->name, first) != 0)
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
