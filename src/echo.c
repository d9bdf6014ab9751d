/* echo.c - the echo protocol: every byte received goes back, in order.  Output backpressure
 * (conn.h) keeps a client that sends without reading from growing the queue without bound. */
#include "conn.h"

static int echo_open(conn *c, void *arg)
{
    return 0;
}

static void echo_data(conn *c, const char *data, size_t len)
{
    conn_write(c, data, len);
}

static void echo_close(conn *c)
{
}

const struct proto echo_proto = {
    .name = "echo",
    .on_open = echo_open,
    .on_data = echo_data,
    .on_close = echo_close,
};
