/* http_app.c - an HTTP application on ioserve (pkg-config ioserve): routes of its own, one of
 * them a WebSocket, on a server with a loop per thread.
 *
 * usage: http_app PORT      (PORT 0: the kernel picks; the start-up line names it)
 *
 *   GET  /hello?NAME     "Hello, NAME!" (text/plain; "Hello, world!" without a query)
 *   POST /sum            the sum of the decimal integers in the body, e.g. "1 2 39" -> "42"
 *   GET  /ws             a WebSocket that echoes every message (the built-in echo endpoint)
 *
 * What each thread needs of its own: the router (its WebSocket route carries that loop's
 * endpoint), the http_app (its date cache) and the WebSocket hub (ws_builtin); the server hands
 * loop i proto_args[i].  The hubs are destroyed only after server_run(), once every connection
 * has closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ioserve/http/http_conn.h>
#include <ioserve/http/http_router.h>
#include <ioserve/server.h>
#include <ioserve/ws/ws_conn.h>

#define THREADS 2

struct stack {
    http_router *router;
    http_app app;
    ws_builtin *ws;
};

static int hello(http_request *req, http_response *res, void *arg)
{
    char text[128];
    const char *name = req->query && *req->query ? req->query : "world";
    int n = snprintf(text, sizeof(text), "Hello, %.100s!", name);
    return http_res_send(res, 200, "text/plain", text, (size_t)n);
}

static int sum(http_request *req, http_response *res, void *arg)
{
    long long total = 0;
    const char *p = req->body, *end = req->body + req->body_len;
    while (p < end) {
        char *stop;
        char number[24];
        size_t len = 0;
        while (p < end && (*p == ' ' || *p == '\n'))
            p++;
        while (p < end && *p != ' ' && *p != '\n' && len < sizeof(number) - 1)
            number[len++] = *p++;
        number[len] = '\0';
        if (len == 0)
            break;
        errno = 0;
        long long v = strtoll(number, &stop, 10);
        if (*stop || errno) /* not a number: the client's mistake, said in the answer */
            return http_res_send(res, 400, "text/plain", "integers only\n", 14);
        total += v;
    }
    char text[32];
    int n = snprintf(text, sizeof(text), "%lld", total);
    return http_res_send(res, 200, "text/plain", text, (size_t)n);
}

static int upgrade(conn *c, const http_request *req, const char *leftover, size_t leftover_len, void *endpoint)
{
    return ws_conn_upgrade_to(c, req, leftover, leftover_len, endpoint);
}

/* arg: this loop's echo endpoint.  The upgrade happens once the response side is idle. */
static int websocket(http_request *req, http_response *res, void *arg)
{
    http_conn_upgrade_later(http_conn_of(res), upgrade, arg);
    return HTTP_ASYNC;
}

static int stack_init(struct stack *st)
{
    ws_hub_config ws_cfg = {0}; /* the defaults (websocket.h) */
    int err = http_router_create(&st->router);
    if (!err)
        err = ws_builtin_create(&st->ws, &ws_cfg);
    if (!err)
        err = http_route(st->router, HTTP_GET, "/hello", hello, NULL);
    if (!err)
        err = http_route(st->router, HTTP_POST, "/sum", sum, NULL);
    if (!err)
        err = http_route(st->router, HTTP_GET, "/ws", websocket, &st->ws->echo);
    http_limits limits = {.max_body = 64 * 1024};
    http_app_init(&st->app, st->router, &limits, 0, 0); /* 0: the default timeouts */
    return err;
}

static void stack_fini(struct stack *st)
{
    if (st->ws)
        ws_builtin_destroy(st->ws);
    http_router_destroy(st->router);
}

int main(int argc, char **argv)
{
    char address[32], why[256];
    struct stack stacks[THREADS] = {0};
    void *args[THREADS];
    snprintf(address, sizeof(address), "127.0.0.1:%s", argc > 1 ? argv[1] : "0");
    server_config cfg = {.proto = &http_proto, .proto_args = args, .threads = THREADS};
    if (net_addr_parse(address, &cfg.listen, NULL) < 0)
        return 2;
    int status = 1;
    for (int i = 0; i < THREADS; i++) {
        if (stack_init(&stacks[i]) < 0) {
            fprintf(stderr, "http_app: cannot set up routes\n");
            goto out;
        }
        args[i] = &stacks[i].app;
    }
    server *s;
    if (server_create(&s, &cfg, why, sizeof(why)) < 0) {
        fprintf(stderr, "http_app: %s\n", why);
        goto out;
    }
    if (server_start(s) == 0) {
        server_describe(s, why, sizeof(why));
        fprintf(stderr, "http_app: %s\n", why);
    }
    status = server_run(s) < 0 ? 1 : 0;
    server_destroy(s);
out:
    for (int i = 0; i < THREADS; i++)
        stack_fini(&stacks[i]);
    return status;
}
