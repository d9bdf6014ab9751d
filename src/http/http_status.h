/* http_status.h - status codes: reason phrases and ready-made status lines.
 *
 * Every status the server sends itself has its whole "HTTP/1.1 404 Not Found\r\n" line as a
 * string constant, so writing a head copies it instead of formatting it.  Any other code in
 * 101..599 still gets a valid line, with an empty reason phrase (RFC 9112 4 allows it).
 */
#ifndef IOSERVE_HTTP_STATUS_H
#define IOSERVE_HTTP_STATUS_H

#include <stddef.h>

#define HTTP_STATUS_LINE_MAX 64 /* the longest line, with its CRLF */

/* "Not Found"; "" for a code without a phrase here. */
const char *http_status_reason(int status);

/* The status line of status (100..599): a constant, or one formatted into buf. */
const char *http_status_line(int status, char buf[HTTP_STATUS_LINE_MAX], size_t *len);

#endif
