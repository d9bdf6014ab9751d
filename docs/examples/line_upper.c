/* line_upper.c - a protocol of one's own on ioserve's connections (pkg-config ioserve): each
 * line a client sends comes back in upper case; the line "quit" closes the connection.
 *
 * usage: line_upper PORT      (PORT 0: the kernel picks; the start-up line names it)
 *
 * The protocol is a struct proto (<ioserve/proto.h>): the connection layer does the reading,
 * the output queue, backpressure and the close; the server (<ioserve/server.h>) runs a loop
 * per thread, accepts, and drains on SIGINT/SIGTERM.  Per-connection state is the partial line
 * only, bounded by LINE_MAX_BYTES: a longer line closes the connection.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ioserve/server.h>

#define LINE_MAX_BYTES 4096

struct line {
    size_t len;
    char text[LINE_MAX_BYTES];
};

static int upper_open(conn *c, void *arg)
{
    struct line *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    conn_set_state(c, l);
    return 0;
}

/* One whole line (its '\n' included): answered, or the connection closed on "quit". */
static void answer(conn *c, struct line *l)
{
    if (l->len == 5 && memcmp(l->text, "quit\n", 5) == 0) {
        conn_write(c, "bye\n", 4);
        conn_close(c);
        return;
    }
    for (size_t i = 0; i < l->len; i++)
        l->text[i] = (char)toupper((unsigned char)l->text[i]);
    conn_write(c, l->text, l->len);
}

static void upper_data(conn *c, const char *data, size_t len)
{
    struct line *l = conn_state(c);
    for (size_t i = 0; i < len; i++) {
        if (l->len == sizeof(l->text)) {
            conn_write(c, "line too long\n", 14);
            conn_close(c);
            return;
        }
        l->text[l->len++] = data[i];
        if (data[i] == '\n') {
            answer(c, l);
            l->len = 0;
        }
    }
}

static void upper_close(conn *c)
{
    free(conn_state(c));
}

static const struct proto line_upper_proto = {
    .name = "line-upper",
    .on_open = upper_open,
    .on_data = upper_data,
    .on_close = upper_close,
};

int main(int argc, char **argv)
{
    char address[32], why[256];
    snprintf(address, sizeof(address), "127.0.0.1:%s", argc > 1 ? argv[1] : "0");
    server_config cfg = {.proto = &line_upper_proto, .threads = 2};
    if (net_addr_parse(address, &cfg.listen, NULL) < 0) {
        fprintf(stderr, "line_upper: bad port %s\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    server *s;
    if (server_create(&s, &cfg, why, sizeof(why)) < 0) {
        fprintf(stderr, "line_upper: %s\n", why);
        return 1;
    }
    int err = server_start(s);
    if (err == 0) {
        server_describe(s, why, sizeof(why));
        fprintf(stderr, "line_upper: %s\n", why);
    }
    err = server_run(s);
    server_destroy(s);
    return err < 0 ? 1 : 0;
}
