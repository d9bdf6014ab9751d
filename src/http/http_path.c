/* http_path.c - percent-decoding and segment checks for static file paths. */
#include "http/http_path.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "http/http_text.h"

/* Bytes that must never come out of an escape: they change how the path splits. */
static bool is_structural(unsigned char c)
{
    return c == '.' || c == '/' || c == '\\' || c == '\0';
}

static bool is_forbidden_raw(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '\\';
}

/* A '%' left after decoding came from "%25": refuse it when it starts another structural
 * escape. */
static bool decodes_again_to_structural(const char *seg, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (seg[i] != '%')
            continue;
        int hi = http_hex_value(seg[i + 1]), lo = http_hex_value(seg[i + 2]);
        if (hi >= 0 && lo >= 0 && is_structural((unsigned char)(hi * 16 + lo)))
            return true;
    }
    return false;
}

/* Decode one segment of *p (up to '/' or the end) into out; returns its length or -errno. */
static int decode_segment(const char **p, char *out, size_t room)
{
    const char *s = *p;
    size_t n = 0;
    while (*s && *s != '/') {
        unsigned char c = (unsigned char)*s;
        if (c == '%') {
            int hi = http_hex_value(s[1]);
            int lo = hi >= 0 ? http_hex_value(s[2]) : -1;
            if (lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi * 16 + lo);
            if (is_structural(c))
                return -EACCES;
            s += 3;
        } else {
            s++;
        }
        if (is_forbidden_raw(c))
            return -EACCES;
        if (n == room)
            return -ENAMETOOLONG;
        out[n++] = (char)c;
    }
    *p = s;
    return (int)n;
}

static int append(char *out, size_t out_size, size_t *n, const char *text, size_t len)
{
    if (len >= out_size - *n)
        return -ENAMETOOLONG;
    memcpy(out + *n, text, len);
    *n += len;
    return 0;
}

int http_path_resolve(const char *path, char *out, size_t out_size)
{
    if (path[0] != '/')
        return -EINVAL;
    if (out_size == 0)
        return -ENAMETOOLONG;
    size_t n = 0;
    bool dir = true;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t start = n ? n + 1 : 0;
        if (start >= out_size)
            return -ENAMETOOLONG;
        int len = decode_segment(&p, out + start, out_size - 1 - start);
        if (len < 0)
            return len;
        const char *seg = out + start;
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return -EACCES;
        if (decodes_again_to_structural(seg, (size_t)len))
            return -EACCES;
        bool dot = len == 1 && seg[0] == '.';
        dir = dot || *p == '/';
        if (dot)
            continue;
        if (n)
            out[n] = '/';
        n = start + (size_t)len;
    }
    if (dir) {
        int rc = n ? append(out, out_size, &n, "/", 1) : 0;
        if (rc || (rc = append(out, out_size, &n, HTTP_INDEX_FILE, strlen(HTTP_INDEX_FILE))))
            return rc;
    }
    out[n] = '\0';
    return (int)n;
}

bool http_path_is_hidden(const char *rel)
{
    static const char well_known[] = ".well-known";
    size_t skip = sizeof(well_known) - 1;
    if (strncmp(rel, well_known, skip) == 0 && (rel[skip] == '/' || rel[skip] == '\0'))
        rel += skip;
    for (const char *seg = rel; seg; seg = strchr(seg, '/')) {
        seg += *seg == '/';
        if (*seg == '.')
            return true;
    }
    return false;
}

int http_path_dir_location(const char *path, const char *query, char *out, size_t out_size)
{
    size_t n = 0;
    for (const char *c = path; *c; c++) {
        if (*c == '/' && n && out[n - 1] == '/')
            continue;
        if (append(out, out_size, &n, c, 1))
            return -ENAMETOOLONG;
    }
    if ((!n || out[n - 1] != '/') && append(out, out_size, &n, "/", 1))
        return -ENAMETOOLONG;
    if (*query && (append(out, out_size, &n, "?", 1) ||
                   append(out, out_size, &n, query, strlen(query))))
        return -ENAMETOOLONG;
    out[n] = '\0';
    return (int)n;
}
