/* http_text.h - byte-level helpers the HTTP modules share (private to src/http).
 *
 * ASCII only and locale-free on purpose: HTTP's case-insensitivity is ASCII's, and a
 * locale-aware tolower() would make parsing depend on the process environment.
 */
#ifndef IOSERVE_HTTP_TEXT_H
#define IOSERVE_HTTP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

static inline char http_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static inline bool http_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (http_lower(a[i]) != http_lower(b[i]))
            return false;
    return true;
}

/* Whether the NUL-terminated s begins with lit, case-insensitively; never reads past s's NUL. */
static inline bool http_istarts(const char *s, const char *lit)
{
    for (size_t i = 0; lit[i]; i++)
        if (http_lower(s[i]) != http_lower(lit[i]))
            return false;
    return true;
}

/* Whether the NUL-terminated s equals lit, case-insensitively. */
static inline bool http_ieq_str(const char *s, const char *lit)
{
    size_t i = 0;
    for (; lit[i]; i++)
        if (http_lower(s[i]) != http_lower(lit[i]))
            return false;
    return s[i] == '\0';
}

/* The value of a hex digit, or -1. */
static inline int http_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = http_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static inline bool http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar: what a header field name and a token are made of. */
static inline bool http_is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

#endif
