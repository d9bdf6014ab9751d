/* floor.c - request heads and the answer the floor servers share.  Contract in floor.h. */
#include "floor.h"

#include "baseline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char HEAD_END[4] = "\r\n\r\n";

size_t floor_count_heads(unsigned *matched, const char *bytes, size_t len)
{
    size_t heads = 0;
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] == HEAD_END[*matched])
            (*matched)++;
        else
            *matched = bytes[i] == '\r';
        if (*matched == sizeof HEAD_END) {
            heads++;
            *matched = 0;
        }
    }
    return heads;
}

/* Rebuild r when the wall-clock second moved on since its Date. */
static void refresh_response(struct floor_response *r)
{
    time_t now = time(NULL);
    if (now == r->second)
        return;
    struct tm tm;
    char date[40];
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int len = snprintf(r->bytes, sizeof r->bytes,
                       "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                       "Content-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!", date);
    r->len = (size_t)len;
    r->second = now;
}

size_t floor_answer(struct floor_base *b, size_t heads)
{
    struct floor_response *r = &b->response;
    refresh_response(r);
    for (size_t i = 0; i < heads; i++)
        memcpy(b->answers + i * r->len, r->bytes, r->len);
    return heads * r->len;
}

int floor_base_init(struct floor_base *b, int listen_fd, bool http, size_t max_slots)
{
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) != 0)
        return -errno;
    b->listen_fd = listen_fd;
    b->http = http;
    b->conn_slots = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > max_slots ? max_slots
                                                                                  : (size_t)files.rlim_cur;
    b->response.second = (time_t)-1;
    b->answers = malloc((size_t)FLOOR_HEADS_PER_READ_MAX * FLOOR_RESPONSE_MAX);
    return b->answers ? 0 : -ENOMEM;
}

int floor_main(int argc, char **argv, const char *name, int (*run)(int listen_fd, bool http))
{
    const struct baseline_model model = {.name = name, .takes_workers = false};
    struct baseline_config cfg;
    int status;
    int listen_fd = baseline_start(argc, argv, &model, &cfg, &status);
    if (listen_fd < 0)
        return status;
    if (cfg.protocol == BASELINE_ETX) {
        fprintf(stderr, "%s: speaks http and echo only\n", name);
        return 2;
    }
    int err = run(listen_fd, cfg.protocol == BASELINE_HTTP);
    fprintf(stderr, "%s: %s\n", name, strerror(-err));
    return 1;
}
