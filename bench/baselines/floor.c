/* floor.c - request heads and the answer the floor servers share.  Contract in floor.h. */
#include "floor.h"

#include <stdio.h>
#include <string.h>

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
