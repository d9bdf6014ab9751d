/* http_frames.h - reads what an HTTP/1.1 server wrote back as responses, strictly.
 *
 * The harnesses that make responses check with it that a client can frame them: each is a
 * status line, header lines of a token, ':' and a value without CR, LF or NUL, and a body
 * framed by Content-Length, chunked encoding or the close (never two of these); 1xx, 204 and
 * 304 carry none, nor does the answer to HEAD (but for a refusal that closes the connection,
 * sent as to an unreadable request); after "Connection: close" or a 101 nothing follows.
 * Any breach aborts (FUZZ_CHECK) with its offset.
 */
#ifndef IOSERVE_TESTS_HTTP_FRAMES_H
#define IOSERVE_TESTS_HTTP_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_frames {
    size_t last_at;    /* where the last response starts */
    size_t finals;     /* final (non-1xx) responses */
    size_t continues;  /* 100 Continue */
    int last_status;
    bool closed;       /* the last response said Connection: close */
    bool upgraded;     /* the last response was a 101 */
} http_frames;

/* methods[i] is the method (enum llhttp_method) of the request the i-th final response
 * answers, as far as known (count); later ones are taken as GET. */
http_frames http_frames_check(const uint8_t *out, size_t len, const int *methods, size_t count);

/* Whether two refusals of the same bytes, cut differently, may differ in status: a head both
 * over a limit (413, 414, 431) and malformed (400) is refused for whichever the parser meets
 * first, and llhttp reports a span only where a feed ends, so the cut decides.  Both close the
 * connection, so no client reads the two differently. */
bool http_frames_same_refusal(int a, int b);

#endif
