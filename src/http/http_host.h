/* http_host.h - whether a Host field value is an authority a server may accept.
 *
 * RFC 9112 3.2 gives Host the form uri-host [ ":" port ] of RFC 3986 3.2.2-3.2.3:
 *   - an IP-literal: "[" IPv6address "]" (checked with inet_pton) or "[v" 1*HEXDIG "." ... "]";
 *   - otherwise a reg-name: unreserved, sub-delims and %HH escapes only (an IPv4 address is
 *     one too), possibly empty (a target without an authority);
 *   - then optionally ":" and decimal digits (possibly none, as RFC 3986 allows).
 * No userinfo ("user@host"), no path ("a/b"), no whitespace or control bytes.
 */
#ifndef IOSERVE_HTTP_HOST_H
#define IOSERVE_HTTP_HOST_H

#include <stdbool.h>
#include <stddef.h>

bool http_host_valid(const char *value, size_t len);

#endif
