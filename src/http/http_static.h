/* http_static.h - what a static file response should be, decided without touching the file.
 *
 * The file layer resolves the path (http_path.h), opens and fstat()s the file, then asks
 * http_static_plan() what to answer, with http_static_start() to send the head; the body is
 * http_res_sendfile(plan.offset, plan.length) and http_res_end().  The plan, for GET and HEAD:
 *   304  If-None-Match lists the ETag (weak comparison; "*" matches), or -- only when there is
 *        no If-None-Match (RFC 9110 13.2.2) -- If-Modified-Since is a valid HTTP-date, not in
 *        the future, at or after the file's mtime (whole seconds);
 *   206  one satisfiable range of a GET's Range: "bytes=a-b", "bytes=a-", "bytes=-n" (the last n
 *        bytes), b clamped to the end; Content-Range "bytes a-b/size";
 *   416  Range whose ranges are all unsatisfiable (a >= size, "-0", anything on an empty file);
 *        Content-Range "bytes * /size" (no space in the real header);
 *   200  otherwise.  Several ranges are answered with the whole file (allowed by RFC 9110 14.2;
 *        we do not build multipart/byteranges); so is a malformed Range, a unit other than
 *        bytes, an If-Range that does not match (strong ETag or exact Last-Modified date), and a
 *        Range on HEAD.
 * ETag: "<inode>-<size>-<mtime ns>" in hex, strong; Last-Modified: the mtime as IMF-fixdate.
 */
#ifndef IOSERVE_HTTP_STATIC_H
#define IOSERVE_HTTP_STATIC_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http_date.h"
#include "http/http_request.h"
#include "http/http_response.h"

typedef struct http_file_meta {
    uint64_t size;
    uint64_t inode;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
} http_file_meta;

#define HTTP_ETAG_MAX 64
#define HTTP_CONTENT_RANGE_MAX 80

/* Write the quoted ETag; returns its length. */
size_t http_etag_format(const http_file_meta *meta, char out[HTTP_ETAG_MAX]);
/* Whether an If-None-Match value matches etag (weak comparison, "*" matches any). */
bool http_etag_list_matches(const char *list, const char *etag);

typedef enum http_range_result {
    HTTP_RANGE_NONE,          /* no usable Range: serve the whole file */
    HTTP_RANGE_ONE,           /* *first..*last (inclusive), within the file */
    HTTP_RANGE_MULTIPLE,      /* several ranges, some satisfiable: served whole */
    HTTP_RANGE_UNSATISFIABLE, /* 416 */
} http_range_result;

http_range_result http_range_parse(const char *value, uint64_t size, uint64_t *first,
                                   uint64_t *last);

typedef struct http_static_plan {
    int status;               /* 200, 206, 304 or 416 */
    uint64_t offset;          /* the body: length bytes of the file from offset */
    uint64_t length;
    const char *content_type;
    char etag[HTTP_ETAG_MAX];
    char last_modified[HTTP_DATE_LEN + 1];
    char content_range[HTTP_CONTENT_RANGE_MAX]; /* "" unless 206 or 416 */
} http_static_plan;

/* rel_path chooses the Content-Type (http_mime.h); now (seconds since the epoch, e.g. the
 * date cache's) makes an If-Modified-Since in the future count as absent (RFC 9110 13.1.3). */
void http_static_plan_for(const http_request *req, const char *rel_path,
                          const http_file_meta *meta, int64_t now, http_static_plan *plan);

/* Send the plan's head: ETag, Last-Modified, Accept-Ranges, Content-Range.  304 and 416 are
 * complete after it, and so is a 200 of an empty file; otherwise the body follows. */
int http_static_start(http_response *res, const http_static_plan *plan);

#endif
