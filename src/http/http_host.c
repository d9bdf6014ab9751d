/* http_host.c - the Host field's grammar (http_host.h). */
#include "http/http_host.h"

#include <arpa/inet.h>
#include <string.h>

#include "http/http_text.h"

#define IPV6_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* RFC 3986 unreserved / sub-delims: what a reg-name is made of, besides escapes. */
static bool is_reg_name_char(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'':
    case '(': case ')': case '*': case '+': case ',': case ';': case '=':
        return true;
    default:
        return false;
    }
}

/* The length of the reg-name at s (up to ':' or the end), or -1 when a byte does not belong. */
static long reg_name_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] != ':') {
        if (s[i] == '%' && i + 2 < len && http_hex_value(s[i + 1]) >= 0 &&
            http_hex_value(s[i + 2]) >= 0)
            i += 3;
        else if (is_reg_name_char(s[i]))
            i++;
        else
            return -1;
    }
    return (long)i;
}

/* "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static bool ipvfuture_valid(const char *s, size_t len)
{
    size_t i = 1;
    while (i < len && http_hex_value(s[i]) >= 0)
        i++;
    if (i == 1 || i + 1 >= len || s[i] != '.')
        return false;
    for (i++; i < len; i++)
        if (!is_reg_name_char(s[i]) && s[i] != ':')
            return false;
    return true;
}

static bool ip_literal_valid(const char *s, size_t len)
{
    if (len && (s[0] == 'v' || s[0] == 'V'))
        return ipvfuture_valid(s, len);
    char text[IPV6_TEXT_MAX];
    struct in6_addr addr;
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, &addr) == 1;
}

bool http_host_valid(const char *value, size_t len)
{
    size_t host_len;
    if (len && value[0] == '[') {
        const char *close = memchr(value, ']', len);
        if (!close || !ip_literal_valid(value + 1, (size_t)(close - value - 1)))
            return false;
        host_len = (size_t)(close - value) + 1;
    } else {
        long n = reg_name_len(value, len);
        if (n < 0)
            return false;
        host_len = (size_t)n;
    }
    if (host_len == len)
        return true;
    if (value[host_len] != ':')
        return false;
    for (size_t i = host_len + 1; i < len; i++)
        if (value[i] < '0' || value[i] > '9')
            return false;
    return true;
}
