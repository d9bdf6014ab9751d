/* http_files.h - static files under a document root, served through the loop's file ops.
 *
 * http_files_handler is an http_router handler (GET, and so HEAD): the request path is
 * resolved by http_path_resolve() (no "..", no encoded dots or slashes), then opened with
 * io_openat2 beneath the root (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: neither ".." nor a
 * symlink can leave it), stat'ed with io_statx on the open fd, and answered as
 * http_static_plan_for() says (200/206/304/416, ETag, Last-Modified, Content-Type).  The body is
 * a file range in the connection's queue (io_sendfile: memory stays bounded).  A directory
 * named without its trailing '/' is redirected (301) to it, so its index.html's relative links
 * work; its Location is the path with runs of '/' collapsed (http_path_dir_location), never a
 * "//host" that a browser would take for another site.  Dotfiles (http_path_is_hidden: ".env",
 * ".git/config"; not ".well-known/") are 404 unless serve_dotfiles.  Refused paths, symlinks
 * out of the root and unreadable or special files are 403; missing ones 404.  The handler
 * must run on an http_conn connection (http_conn.h).
 * An http_files belongs to one loop: it keeps finished request jobs for the next requests, so
 * a warm server allocates nothing per file request, and that list is not locked.
 */
#ifndef IOSERVE_HTTP_FILES_H
#define IOSERVE_HTTP_FILES_H

#include <stdbool.h>

#include "http/http_router.h"

struct file_job;

typedef struct http_files {
    int root_fd;            /* an O_PATH directory fd */
    bool serve_dotfiles;    /* --serve-dotfiles */
    struct file_job *spare; /* finished jobs, reused before any calloc */
    unsigned spare_count;
} http_files;

/* Open the root directory: 0 or -errno. */
int http_files_open(http_files *files, const char *root);
void http_files_close(http_files *files);

/* The handler; arg is the loop's http_files, which must outlive the connections. */
int http_files_handler(http_request *req, http_response *res, void *arg);

#endif
