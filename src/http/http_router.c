/* http_router.c - a flat route table scanned per request (applications register tens of
 * routes, not thousands), and the handler return-value rules. */
#include "http/http_router.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ALLOW_TEXT_MAX 640u /* every method name, comma-separated */

typedef struct route {
    char *path;       /* the exact path, or the prefix */
    size_t len;
    bool prefix;
    uint64_t methods; /* bit (1 << method) */
    http_handler_fn fn;
    void *arg;
} route;

struct http_router {
    route *routes;
    size_t count;
    size_t cap;
};

static uint64_t method_bit(int method)
{
    return (uint64_t)1 << method;
}

static const uint64_t all_methods = ((uint64_t)1 << (HTTP_METHOD_LAST + 1)) - 1;

int http_router_create(http_router **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void http_router_destroy(http_router *router)
{
    if (!router)
        return;
    for (size_t i = 0; i < router->count; i++)
        free(router->routes[i].path);
    free(router->routes);
    free(router);
}

static const route *find_same(const http_router *router, const char *path, size_t len,
                              bool prefix, uint64_t methods)
{
    for (size_t i = 0; i < router->count; i++) {
        const route *r = &router->routes[i];
        if (r->prefix == prefix && r->len == len && memcmp(r->path, path, len) == 0 &&
            (r->methods & methods))
            return r;
    }
    return NULL;
}

static int add_route(http_router *router, int method, const char *path, bool prefix,
                     http_handler_fn fn, void *arg)
{
    if (!fn || path[0] != '/' ||
        (method != HTTP_ANY_METHOD && (method < 0 || method > HTTP_METHOD_LAST)))
        return -EINVAL;
    size_t len = strlen(path);
    uint64_t methods = method == HTTP_ANY_METHOD ? all_methods : method_bit(method);
    if (find_same(router, path, len, prefix, methods))
        return -EEXIST;
    if (router->count == router->cap) {
        size_t cap = router->cap ? router->cap * 2 : 8;
        route *grown = realloc(router->routes, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        router->routes = grown;
        router->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    router->routes[router->count++] = (route){
        .path = copy, .len = len, .prefix = prefix, .methods = methods, .fn = fn, .arg = arg};
    return 0;
}

int http_route(http_router *router, int method, const char *path, http_handler_fn fn, void *arg)
{
    return add_route(router, method, path, false, fn, arg);
}

int http_route_prefix(http_router *router, int method, const char *prefix, http_handler_fn fn,
                      void *arg)
{
    return add_route(router, method, prefix, true, fn, arg);
}

/* A prefix matches at a segment boundary: "/api" covers "/api/x", not "/apix". */
static bool route_matches(const route *r, const char *path, size_t len)
{
    if (!r->prefix)
        return len == r->len && memcmp(path, r->path, len) == 0;
    if (len < r->len || memcmp(path, r->path, r->len) != 0)
        return false;
    return r->path[r->len - 1] == '/' || path[r->len] == '\0' || path[r->len] == '/';
}

/* An exact route beats any prefix; a longer prefix beats a shorter one. */
static bool more_specific(const route *a, const route *b)
{
    if (a->prefix != b->prefix)
        return !a->prefix;
    return a->len > b->len;
}

static const route *best_route(const http_router *router, uint64_t bit, const char *path,
                               size_t len, uint64_t *allow)
{
    const route *best = NULL;
    for (size_t i = 0; i < router->count; i++) {
        const route *r = &router->routes[i];
        if (!route_matches(r, path, len))
            continue;
        *allow |= r->methods;
        if ((r->methods & bit) && (!best || more_specific(r, best)))
            best = r;
    }
    return best;
}

int http_router_match(const http_router *router, int method, const char *path,
                      http_route_match *m)
{
    size_t len = strlen(path);
    uint64_t allow = 0;
    const route *best = NULL;
    if (method >= 0 && method <= HTTP_METHOD_LAST)
        best = best_route(router, method_bit(method), path, len, &allow);
    if (!best && method == HTTP_HEAD)
        best = best_route(router, method_bit(HTTP_GET), path, len, &allow);
    else if (method < 0 || method > HTTP_METHOD_LAST)
        best_route(router, 0, path, len, &allow);
    *m = (http_route_match){.allow = allow};
    if (!best)
        return allow ? 405 : 404;
    m->fn = best->fn;
    m->arg = best->arg;
    return 0;
}

size_t http_allow_format(uint64_t allow, char *out, size_t out_size)
{
    if (allow & method_bit(HTTP_GET))
        allow |= method_bit(HTTP_HEAD);
    size_t n = 0;
    if (out_size)
        out[0] = '\0';
    for (int method = 0; method <= HTTP_METHOD_LAST; method++) {
        if (!(allow & method_bit(method)))
            continue;
        const char *name = http_method_name(method);
        size_t need = strlen(name) + (n ? 2 : 0);
        if (need + 1 > out_size - n)
            break;
        if (n) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        memcpy(out + n, name, strlen(name) + 1);
        n += strlen(name);
    }
    return n;
}

static void answer_no_route(http_response *res, int status, uint64_t allow)
{
    if (status == 405) {
        char text[ALLOW_TEXT_MAX];
        http_allow_format(allow, text, sizeof(text));
        http_res_header(res, "Allow", text);
    }
    http_res_error(res, status);
}

/* After the handler returned: end what it left open, per the rules in the header. */
static void settle(http_response *res, int rc)
{
    if (http_res_ended(res))
        return;
    if (!http_res_head_sent(res)) {
        http_res_clear_headers(res);
        http_res_error(res, 500);
        return;
    }
    if (rc < 0)
        http_res_close(res);
    http_res_end(res);
}

int http_router_dispatch(const http_router *router, http_request *req, http_response *res)
{
    http_route_match m;
    int status = http_router_match(router, req->method, req->path, &m);
    if (status) {
        answer_no_route(res, status, m.allow);
        return 0;
    }
    int rc = m.fn(req, res, m.arg);
    if (rc == HTTP_ASYNC && !http_res_ended(res))
        return HTTP_ASYNC;
    settle(res, rc);
    return 0;
}
