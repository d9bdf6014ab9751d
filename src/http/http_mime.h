/* http_mime.h - Content-Type from a file name's extension, for static files.
 *
 * The extension (after the last '.' of the last segment) is compared case-insensitively with a
 * fixed table of the types browsers need to render and run a site; text types carry
 * "; charset=utf-8".  No extension, or one not in the table: application/octet-stream, which
 * makes a browser download rather than guess (and never sniff a script into running).
 */
#ifndef IOSERVE_HTTP_MIME_H
#define IOSERVE_HTTP_MIME_H

#define HTTP_MIME_DEFAULT "application/octet-stream"

const char *http_mime_type(const char *path);

#endif
