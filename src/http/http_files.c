/* http_files.c - GET a file: resolve, io_openat2, io_statx, plan, queue the range (http_files.h).
 *
 * Each request gets a job that lives across its two loop ops.  The job holds the connection's
 * memory (conn_hold) while an op is in flight, and hears through the response's watch when the
 * connection goes first: it then only closes what it opened.  Once the body is queued, the
 * file descriptor belongs to the connection's queue, which closes it when the range is sent.
 * Finished jobs wait on the http_files' spare list (bounded) for the next request.
 */
#include "http/http_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_conn.h"
#include "http/http_path.h"
#include "http/http_static.h"

/* Jobs kept for reuse: enough for that many files in flight at once on one loop. */
#define SPARE_JOBS_MAX 64u

struct file_job {
    io_op op;
    http_files *files;
    struct file_job *next_spare;
    struct open_how how;
    struct statx stx;
    http_request *req;
    http_response *res; /* NULL once the connection is gone */
    http_conn *hc;
    conn *c;
    int fd;
    char rel[PATH_MAX];
};

int http_files_open(http_files *files, const char *root)
{
    files->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return files->root_fd < 0 ? -errno : 0;
}

void http_files_close(http_files *files)
{
    if (files->root_fd >= 0)
        close(files->root_fd);
    files->root_fd = -1;
    while (files->spare) {
        struct file_job *job = files->spare;
        files->spare = job->next_spare;
        free(job);
    }
    files->spare_count = 0;
}

/* A job with an idle op, from the spare list when it has one. */
static struct file_job *job_get(http_files *files)
{
    struct file_job *job = files->spare;
    if (!job)
        return calloc(1, sizeof(*job));
    files->spare = job->next_spare;
    files->spare_count--;
    job->op = (io_op){0};
    return job;
}

static void job_put(http_files *files, struct file_job *job)
{
    if (files->spare_count >= SPARE_JOBS_MAX) {
        free(job);
        return;
    }
    job->next_spare = files->spare;
    files->spare = job;
    files->spare_count++;
}

static int status_for_errno(int err)
{
    switch (err) {
    case -ENOENT:
    case -ENOTDIR:
    case -ENAMETOOLONG:
        return 404;
    case -EACCES:
    case -EPERM:
    case -EXDEV: /* RESOLVE_BENEATH: the path (a symlink, say) leads out of the root */
    case -ELOOP:
    case -ENXIO: /* a socket */
        return 403;
    default:
        return 500;
    }
}

static void close_file(void *arg)
{
    close((int)(intptr_t)arg);
}

static void job_free(struct file_job *job)
{
    conn *c = job->c;
    if (job->fd >= 0)
        close(job->fd);
    job_put(job->files, job);
    conn_unhold(c);
}

/* Complete the response from a loop callback of ours, then free the job. */
static void job_answer_error(struct file_job *job, int status)
{
    http_conn *hc = job->hc;
    http_conn_enter(hc);
    http_res_error(job->res, status);
    job_free(job);
    http_conn_leave(hc);
}

static void answer_redirect(struct file_job *job)
{
    char location[PATH_MAX + 2];
    const http_request *req = job->req;
    if (http_path_dir_location(req->path, req->query, location, sizeof(location)) < 0 ||
        http_res_header(job->res, "Location", location) < 0)
        http_res_error(job->res, 404);
    else
        http_res_error(job->res, 301);
}

static void answer_file(struct file_job *job)
{
    http_response *res = job->res;
    const struct statx *st = &job->stx;
    http_file_meta meta = {
        .size = st->stx_size,
        .inode = st->stx_ino,
        .mtime_sec = st->stx_mtime.tv_sec,
        .mtime_nsec = st->stx_mtime.tv_nsec,
    };
    http_static_plan plan;
    http_static_plan_for(job->req, job->rel, &meta, http_conn_now(job->hc), &plan);
    int rc = http_static_start(res, &plan);
    bool body = plan.status == 200 || plan.status == 206;
    if (!rc && body && plan.length) {
        rc = http_res_sendfile(res, job->fd, plan.offset, plan.length, close_file,
                               (void *)(intptr_t)job->fd);
        if (!rc)
            job->fd = -1; /* the queue (or HEAD's release) closes it */
        if (!rc)
            rc = http_res_end(res);
    }
    if (rc && !http_res_head_sent(res)) {
        http_res_error(res, 500);
    } else if (rc && !http_res_ended(res)) {
        http_res_close(res);
        http_res_end(res);
    }
}

static void on_stat(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct file_job *job = op->data;
    if (!job->res) {
        job_free(job);
        return;
    }
    if (res < 0) {
        job_answer_error(job, 500);
        return;
    }
    http_conn *hc = job->hc;
    http_conn_enter(hc);
    if (S_ISDIR(job->stx.stx_mode))
        answer_redirect(job);
    else if (!S_ISREG(job->stx.stx_mode))
        http_res_error(job->res, 403);
    else
        answer_file(job);
    job_free(job);
    http_conn_leave(hc);
}

static void on_opened(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct file_job *job = op->data;
    if (!job->res) {
        if (res >= 0)
            close(res);
        job_free(job);
        return;
    }
    if (res < 0) {
        job_answer_error(job, status_for_errno(res));
        return;
    }
    job->fd = res;
    unsigned mask = STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_INO | STATX_MTIME;
    if (io_statx(loop, op, res, "", AT_EMPTY_PATH, mask, &job->stx, on_stat, job) < 0)
        job_answer_error(job, 500);
}

static void on_watch(http_response *res, enum http_res_event event, void *arg)
{
    struct file_job *job = arg;
    if (event == HTTP_RES_CLOSED)
        job->res = NULL;
}

int http_files_handler(http_request *req, http_response *res, void *arg)
{
    http_files *files = arg;
    struct file_job *job = job_get(files);
    if (!job)
        return -ENOMEM;
    job->files = files;
    int n = http_path_resolve(req->path, job->rel, sizeof(job->rel));
    if (n >= 0 && !files->serve_dotfiles && http_path_is_hidden(job->rel))
        n = -ENOENT; /* as if absent: whether .git exists is nobody's business */
    if (n < 0) {
        job_put(files, job);
        return http_res_error(res, n == -EINVAL ? 400 : status_for_errno(n));
    }
    job->how = (struct open_how){
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, /* a FIFO must not block */
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    job->req = req;
    job->res = res;
    job->hc = http_conn_of(res);
    job->c = http_conn_conn(job->hc);
    job->fd = -1;
    int rc = io_openat2(conn_loop(job->c), &job->op, files->root_fd, job->rel, &job->how,
                        on_opened, job);
    if (rc < 0) {
        job_put(files, job);
        return rc;
    }
    conn_hold(job->c);
    http_res_watch(res, on_watch, job);
    return HTTP_ASYNC;
}
