/* http_test_sink.h - an in-memory http_sink_ops for the HTTP unit tests (header-only).
 *
 * Everything written, copied or referenced, lands in one buffer in order; a sendfile shows up
 * as "[file FD OFFSET LEN]".  fail_after makes the Nth write fail, like a dead connection.
 */
#ifndef IOSERVE_TESTS_HTTP_TEST_SINK_H
#define IOSERVE_TESTS_HTTP_TEST_SINK_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/http_response.h"

typedef struct test_sink {
    char out[1 << 20];
    size_t len;
    int writes;       /* calls of any kind */
    int refs;         /* write_ref calls */
    int fail_after;   /* 0: never; N: the Nth call and every later one fail with -EPIPE */
    int released;     /* release callbacks run by this sink */
} test_sink;

static inline int test_sink_put(test_sink *s, const void *data, size_t len)
{
    s->writes++;
    if (s->fail_after && s->writes >= s->fail_after)
        return -EPIPE;
    if (len > sizeof(s->out) - 1 - s->len)
        return -ENOBUFS;
    memcpy(s->out + s->len, data, len);
    s->len += len;
    s->out[s->len] = '\0';
    return 0;
}

static inline int test_sink_write(void *ctx, const void *data, size_t len)
{
    return test_sink_put(ctx, data, len);
}

static inline int test_sink_write_ref(void *ctx, const void *data, size_t len,
                                      void (*release)(void *arg), void *arg)
{
    test_sink *s = ctx;
    s->refs++;
    int rc = test_sink_put(s, data, len);
    if (!rc && release) {
        s->released++;
        release(arg);
    }
    return rc;
}

static inline int test_sink_sendfile(void *ctx, int fd, uint64_t offset, uint64_t len,
                                     void (*release)(void *arg), void *arg)
{
    char text[96];
    int n = snprintf(text, sizeof(text), "[file %d %" PRIu64 " %" PRIu64 "]", fd, offset, len);
    int rc = test_sink_put(ctx, text, (size_t)n);
    if (!rc && release) {
        ((test_sink *)ctx)->released++;
        release(arg);
    }
    return rc;
}

static const http_sink_ops test_sink_ops = {
    .write = test_sink_write,
    .write_ref = test_sink_write_ref,
    .sendfile = test_sink_sendfile,
};

/* 784111777 = Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date. */
#define TEST_UNIX_NS (784111777ull * 1000000000ull)
#define TEST_PREFIX "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: ioserve\r\n"

#endif
