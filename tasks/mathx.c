/* mathx.c — small numeric and string helpers shared by the task adapters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/task_impl.h"

void task_softmax(float *x, size_t n) {
    if (n == 0)
        return;
    float mx = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    /* Accumulate in double: the sum of many small terms stays accurate. */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(x[i] / sum);
}

void task_sigmoid(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* Two branches so exp never overflows. */
        if (x[i] >= 0.0f) {
            x[i] = 1.0f / (1.0f + expf(-x[i]));
        } else {
            float e = expf(x[i]);
            x[i] = e / (1.0f + e);
        }
    }
}

size_t task_argmax(const float *x, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

size_t task_top_k(const float *scores, size_t n, size_t k, size_t *idx) {
    if (k > n)
        k = n;
    /* Insertion into a sorted prefix: n is a label count, small. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pos = m;
        while (pos > 0 && scores[idx[pos - 1]] < scores[i])
            pos--;
        if (pos >= k)
            continue;
        size_t last = m < k ? m : k - 1;
        for (size_t j = last; j > pos; j--)
            idx[j] = idx[j - 1];
        idx[pos] = i;
        if (m < k)
            m++;
    }
    return m;
}

float task_dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

void task_l2_normalize(float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    if (s <= 0.0)
        return;
    float inv = (float)(1.0 / sqrt(s));
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

char *task_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *task_strdup(const char *s) { return task_strndup(s, strlen(s)); }

size_t task_utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

size_t task_windows_plan(size_t n, size_t width, size_t stride, struct task_window *out) {
    if (width == 0)
        return 0;
    if (stride >= width)
        stride = width - 1;
    size_t count = 0, start = 0;
    for (;;) {
        size_t end = start + width < n ? start + width : n;
        if (out)
            out[count] = (struct task_window){start, end};
        count++;
        if (end >= n)
            break;
        start = end - stride;
    }
    return count;
}
