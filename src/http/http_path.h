/* http_path.h - a request path -> a relative path under the document root, or a refusal.
 *
 * The path (as sent, still percent-encoded, query already cut off) must start with '/'.  It
 * is decoded once and split into segments; empty and "." segments are dropped ("//" and "/./"
 * collapse).  It is refused with -EACCES when it holds:
 *   - a ".." segment;
 *   - an encoded '.', '/' or '\' (%2e %2f %5c, any case) or an encoded NUL (%00): clients have
 *     no reason to encode these, and attacks do;
 *   - what would decode, a second time, to one of those ("%252e", "%255c"), so a later layer
 *     that decodes again cannot be tricked either;
 *   - a raw '\', or any control byte (below 0x20, 0x7f).
 * A malformed escape ("%zz", "%4") is -EINVAL; a result longer than out is -ENAMETOOLONG.
 * A path ending in '/' (or a final "." segment) names a directory: "index.html" is appended.
 * The result has no leading '/' ("a/b.html"); the file layer opens it beneath the root
 * (openat2 RESOLVE_BENEATH), which also stops symlinks from leaving it.
 */
#ifndef IOSERVE_HTTP_PATH_H
#define IOSERVE_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_INDEX_FILE "index.html"

/* Returns the length written to out (NUL-terminated), or -errno as above. */
int http_path_resolve(const char *path, char *out, size_t out_size);

/* Whether a resolved path names a dotfile: a segment starting with '.' (".env", ".git/config",
 * "a/.htpasswd") -- except a first segment ".well-known" (RFC 8615), whose own files may still
 * not be dotfiles.  Such paths are not served unless asked for (--serve-dotfiles). */
bool http_path_is_hidden(const char *rel);

/* The Location that sends a request for a directory to the directory itself: the request's
 * path with each run of '/' made one '/', then '/', then "?query" when there is one.  Built
 * so, it can never start with "//", which a browser would read as another host ("GET
 * //evil.example" must not redirect there).  Returns the length, or -ENAMETOOLONG. */
int http_path_dir_location(const char *path, const char *query, char *out, size_t out_size);

#endif
