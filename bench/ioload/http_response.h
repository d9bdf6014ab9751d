/* http_response.h - a streaming HTTP/1.x response parser that copies and allocates nothing.
 *
 * Feed it the bytes of a connection in chunks of any size; it keeps 16 bytes of state per
 * connection, so a million connections share one read buffer.  It stops right after each
 * complete response (status line, headers, then a body framed by Content-Length, chunked
 * encoding, or no body for 1xx/204/304), so the caller can count responses and switch
 * protocols after a 101.  Interim 1xx responses other than 101 are skipped.  Bodies framed
 * by neither header run to end of stream: http_response_finish() completes them at EOF.
 * HTTP_RESPONSE_CLOSE tells whether the server will close after a response ("Connection:
 * close", or HTTP/1.0 without keep-alive).
 */
#ifndef IOLOAD_HTTP_RESPONSE_H
#define IOLOAD_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_response_flag {
    HTTP_RESPONSE_CLOSE = 1u << 0,     /* "Connection: close": no more responses follow */
    HTTP_RESPONSE_ACCEPT_OK = 1u << 1, /* Sec-WebSocket-Accept equalled the expected value */
    HTTP_RESPONSE_CHUNKED = 1u << 2,
    HTTP_RESPONSE_LENGTH = 1u << 3,
    HTTP_RESPONSE_ACCEPT_BAD = 1u << 4,
    HTTP_RESPONSE_1_0 = 1u << 5,       /* HTTP/1.0: the server closes unless it says keep-alive */
    HTTP_RESPONSE_KEEP_ALIVE = 1u << 6,
};

struct http_response {
    uint64_t remaining; /* Content-Length or chunk-size being read, then bytes left to skip */
    uint16_t status;
    uint16_t index;     /* position in the header name or in the token(s) being matched */
    uint8_t state;
    uint8_t header;     /* in a name: the candidates still matching; in a value: the one */
    uint8_t flags;      /* enum http_response_flag */
    bool complete;      /* a whole response ended at the last returned offset */
};

/* Makes `r` ready for the first response of a new connection. */
void http_response_init(struct http_response *r);

/* Parses at most up to the end of one response.  Returns the bytes consumed (all of `len`
 * unless a response completed first, then r->complete is set and r->status/r->flags describe
 * it until the next call), or -1 on a malformed response.  `accept` is the expected
 * Sec-WebSocket-Accept value, or NULL when nobody cares. */
long http_response_parse(struct http_response *r, const uint8_t *data, size_t len,
                         const char *accept);

/* At end of stream: true when a response delimited by the close just completed. */
bool http_response_finish(struct http_response *r);

#endif
