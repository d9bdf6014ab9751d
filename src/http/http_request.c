/* http_request.c - lookups over a parsed request: headers, header tokens, query parameters. */
#include "http/http_request.h"

#include <errno.h>
#include <string.h>

#include "http/http_text.h"

const char *http_method_name(int method)
{
    /* llhttp_method_name() aborts on a number it does not know. */
    if (method < 0 || method > HTTP_METHOD_LAST)
        return "";
    return llhttp_method_name((llhttp_method_t)method);
}

const char *http_request_header(const http_request *req, const char *name)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < req->header_count; i++) {
        const http_header *h = &req->headers[i];
        if (h->name_len == len && http_ieq(h->name, name, len))
            return h->value;
    }
    return NULL;
}

bool http_header_has_token(const char *value, const char *token)
{
    size_t want = strlen(token);
    const char *p = value;
    while (*p) {
        while (*p == ',' || http_is_ows(*p))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && http_is_ows(end[-1]))
            end--;
        if ((size_t)(end - start) == want && http_ieq(start, token, want))
            return true;
    }
    return false;
}

/* Decode a query component of len bytes into out; returns the decoded length or -errno. */
static int query_decode(const char *s, size_t len, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return -EINVAL;
            int hi = http_hex_value(s[i + 1]);
            int lo = http_hex_value(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= out_size)
            return -ENOSPC;
        out[n++] = c;
    }
    out[n] = '\0';
    return (int)n;
}

int http_query_param(const char *query, const char *name, char *out, size_t out_size)
{
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t pair_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', pair_len);
        size_t key_len = eq ? (size_t)(eq - p) : pair_len;
        if (key_len == name_len && memcmp(p, name, name_len) == 0) {
            if (out_size == 0)
                return -ENOSPC;
            if (!eq) {
                out[0] = '\0';
                return 0;
            }
            return query_decode(eq + 1, pair_len - key_len - 1, out, out_size);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return -ENOENT;
}
