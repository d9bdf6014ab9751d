/* floor.c - request heads and the answer the floor servers share.  Contract in floor.h. */
#include "floor.h"

#include "baseline.h"

#include <errno.h>
#include <stdio.h>
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

void floor_response_refresh(struct floor_response *r)
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

size_t floor_responses(const struct floor_response *r, char *out, size_t heads)
{
    for (size_t i = 0; i < heads; i++)
        memcpy(out + i * r->len, r->bytes, r->len);
    return heads * r->len;
}

int floor_conn_slots(size_t max, size_t *slots)
{
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) != 0)
        return -errno;
    *slots = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > max ? max : (size_t)files.rlim_cur;
    return 0;
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
