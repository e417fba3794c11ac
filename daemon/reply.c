/* reply.c — encoding Responses, and the single function that forms error answers (so every
 * error on the wire has the same shape: id, status{code, message}, timing.total_us). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"

uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int reply_encode(const PbResponse *r, uint8_t **buf, size_t *len) {
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    protobuf_c_message_pack(&r->base, b);
    *buf = b;
    *len = n;
    return 0;
}

void reply_error(uint64_t id, int code, const char *message, uint64_t total_us, uint8_t **buf,
                 size_t *len) {
    PbResponse r = SOCLE__V1__RESPONSE__INIT;
    PbStatus st = SOCLE__V1__STATUS__INIT;
    PbTiming t = SOCLE__V1__TIMING__INIT;
    r.id = id;
    st.code = (Socle__V1__Code)code;
    st.message = (char *)(uintptr_t)(message ? message : "");
    r.status = &st;
    t.total_us = total_us;
    r.timing = &t;
    if (reply_encode(&r, buf, len) != 0) {
        *buf = NULL;
        *len = 0;
    }
}

const char *reply_code_name(int code) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&socle__v1__code__descriptor, code);
    return v ? v->name : "UNKNOWN";
}

const char *reply_task_name(int task_case) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&socle__v1__request__descriptor, task_case);
    return f ? f->name : "none";
}
