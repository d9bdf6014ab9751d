/* test_loop_files.c - the file operations (io_openat2, io_statx, io_sendfile) over real files
 * and loopback sockets, one op of a kind per fd (rule 8), and writers that outlast full
 * sockets.  Every test counts the process's open fds before its loop is made and after it is
 * destroyed: a pipe or file left open by a backend fails it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop_harness.h"
#include "loop_tests.h"

/* ---- a directory tree of test files, and fd accounting ---- */

#define BIG_FILE_BYTES (16u << 20)
#define SMALL_FILE_BYTES 100000u

/* root/ holds the files the tests open; root/../ (the outer directory) holds one that
 * RESOLVE_BENEATH must not reach. */
struct tree {
    char outer[64];
    char root_path[80];
    int root;
};

static void write_pattern_file(int dirfd, const char *name, size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t chunk = 1u << 20;
    char *buf = malloc(chunk);
    assert_non_null(buf);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        tnet_pattern_fill(buf, n, off); /* file offset k holds pattern byte k */
        assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    }
    free(buf);
    close(fd);
}

static void tree_make(struct tree *t)
{
    snprintf(t->outer, sizeof t->outer, "/tmp/ioserve-files-XXXXXX");
    assert_non_null(mkdtemp(t->outer));
    snprintf(t->root_path, sizeof t->root_path, "%s/root", t->outer);
    assert_int_equal(mkdir(t->root_path, 0700), 0);
    t->root = open(t->root_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    assert_true(t->root >= 0);
    assert_int_equal(mkdirat(t->root, "sub", 0700), 0);
    write_pattern_file(t->root, "small", SMALL_FILE_BYTES);
    write_pattern_file(t->root, "sub/inner", 1000);
    assert_int_equal(symlinkat("sub/inner", t->root, "link-inside"), 0);
    assert_int_equal(symlinkat(t->outer, t->root, "link-out"), 0); /* absolute, leaves the root */
    int outer = open(t->outer, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    assert_true(outer >= 0);
    write_pattern_file(outer, "outside", 10);
    close(outer);
}

static void tree_remove(struct tree *t)
{
    static const char *const in_root[] = { "small", "big", "sub/inner", "link-inside", "link-out" };
    for (size_t i = 0; i < sizeof in_root / sizeof in_root[0]; i++)
        unlinkat(t->root, in_root[i], 0);
    unlinkat(t->root, "sub", AT_REMOVEDIR);
    close(t->root);
    rmdir(t->root_path);
    char outside[96];
    snprintf(outside, sizeof outside, "%s/outside", t->outer);
    unlink(outside);
    rmdir(t->outer);
}

static int open_file(const struct tree *t, const char *name)
{
    int fd = openat(t->root, name, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* ---- openat2 ---- */

/* One openat2 through the loop: its result, which never arrives inside the call (rule 1). */
static int open_through_loop(io_loop *loop, int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    struct open_how how = { .flags = flags, .resolve = resolve };
    io_op op = {0};
    int err = io_openat2(loop, &op, dirfd, path, &how, record_cb, &rec);
    if (err < 0)
        return err;
    if (rec.calls != 0)
        return -EPROTO;
    err = run_until(loop, 2000, record_final, &rec);
    if (err < 0)
        return err;
    return rec.calls == 1 && rec.flags == 0 && !log.failures ? rec.res : -EPROTO;
}

/* The fd an open returned reads what the test file holds at offset. */
static void assert_reads_pattern(int fd, size_t len, uint64_t offset)
{
    char buf[64];
    assert_true(len <= sizeof buf);
    assert_int_equal(pread(fd, buf, len, (off_t)offset), (ssize_t)len);
    assert_int_equal(tnet_pattern_mismatch(buf, len, offset), len);
}

void test_openat2_beneath_a_root(void **state)
{
    struct tree t;
    tree_make(&t);
    int fds_before = tnet_count_open_fds();
    io_loop *loop = loop_new(state, 0, 0);
    const uint64_t ro = O_RDONLY | O_CLOEXEC;

    int fd = open_through_loop(loop, t.root, "small", ro, RESOLVE_BENEATH);
    assert_true(fd >= 0);
    assert_reads_pattern(fd, 64, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    fd = open_through_loop(loop, t.root, "link-inside", ro, RESOLVE_BENEATH);
    assert_true(fd >= 0);
    assert_reads_pattern(fd, 10, 990);
    close(fd);

    /* Out of the root by "..", by an absolute path and by an absolute symlink: refused. */
    assert_int_equal(open_through_loop(loop, t.root, "../outside", ro, RESOLVE_BENEATH), -EXDEV);
    assert_int_equal(open_through_loop(loop, t.root, "sub/../../outside", ro, RESOLVE_BENEATH), -EXDEV);
    assert_int_equal(open_through_loop(loop, t.root, "/etc/hostname", ro, RESOLVE_BENEATH), -EXDEV);
    assert_int_equal(open_through_loop(loop, t.root, "link-out/outside", ro, RESOLVE_BENEATH), -EXDEV);
    /* The same paths without the restriction reach the file: the refusal was RESOLVE_BENEATH's. */
    fd = open_through_loop(loop, t.root, "link-out/outside", ro, 0);
    assert_true(fd >= 0);
    assert_reads_pattern(fd, 10, 0);
    close(fd);
    assert_int_equal(open_through_loop(loop, t.root, "missing", ro, RESOLVE_BENEATH), -ENOENT);
    assert_int_equal(open_through_loop(loop, t.root, "link-inside", ro, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS),
                     -ELOOP);
    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    tree_remove(&t);
}

/* ---- statx ---- */

static int statx_through_loop(io_loop *loop, int dirfd, const char *path, int flags, struct statx *out)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    memset(out, 0xa5, sizeof *out); /* nothing left over from an earlier call can pass */
    int err = io_statx(loop, &op, dirfd, path, flags, STATX_SIZE | STATX_MTIME | STATX_TYPE, out, record_cb, &rec);
    if (err < 0)
        return err;
    if (rec.calls != 0)
        return -EPROTO;
    err = run_until(loop, 2000, record_final, &rec);
    if (err < 0)
        return err;
    return rec.calls == 1 && rec.flags == 0 && !log.failures ? rec.res : -EPROTO;
}

void test_statx_size_and_mtime(void **state)
{
    struct tree t;
    tree_make(&t);
    const struct timespec when[2] = { { .tv_sec = 1000000000, .tv_nsec = 0 },
                                      { .tv_sec = 1234567890, .tv_nsec = 123456789 } };
    assert_int_equal(utimensat(t.root, "small", when, 0), 0);
    int fds_before = tnet_count_open_fds();
    io_loop *loop = loop_new(state, 0, 0);
    struct statx stx;

    assert_int_equal(statx_through_loop(loop, t.root, "small", 0, &stx), 0);
    assert_true(stx.stx_mask & STATX_SIZE);
    assert_true(stx.stx_mask & STATX_MTIME);
    assert_int_equal(stx.stx_size, SMALL_FILE_BYTES);
    assert_int_equal(stx.stx_mtime.tv_sec, 1234567890);
    assert_int_equal(stx.stx_mtime.tv_nsec, 123456789);
    assert_true(S_ISREG(stx.stx_mode));

    assert_int_equal(statx_through_loop(loop, t.root, "sub", 0, &stx), 0);
    assert_true(S_ISDIR(stx.stx_mode));
    /* A symlink followed, and not (AT_SYMLINK_NOFOLLOW). */
    assert_int_equal(statx_through_loop(loop, t.root, "link-inside", 0, &stx), 0);
    assert_int_equal(stx.stx_size, 1000);
    assert_int_equal(statx_through_loop(loop, t.root, "link-inside", AT_SYMLINK_NOFOLLOW, &stx), 0);
    assert_true(S_ISLNK(stx.stx_mode));
    /* An open fd by AT_EMPTY_PATH. */
    int fd = open_file(&t, "sub/inner");
    assert_int_equal(statx_through_loop(loop, fd, "", AT_EMPTY_PATH, &stx), 0);
    assert_int_equal(stx.stx_size, 1000);
    close(fd);
    assert_int_equal(statx_through_loop(loop, t.root, "missing", 0, &stx), -ENOENT);

    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    tree_remove(&t);
}

/* ---- sendfile to a peer that reads as the test says ---- */

/* The peer's side of a sendfile: it reads at most read_per_turn bytes each loop iteration (a
 * slow reader, so the socket fills), checks every byte against the file's pattern from
 * file_offset on, and keeps a checksum of the stream. */
struct sendfile_peer {
    struct check_log log;
    struct record rec;
    int client;
    size_t read_per_turn;
    uint64_t file_offset;
    size_t got;
    uint64_t checksum;
    char buf[256 * 1024];
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_START 0xcbf29ce484222325ull

static void peer_init(struct sendfile_peer *p, int client, size_t read_per_turn, uint64_t file_offset)
{
    p->log = (struct check_log){0};
    p->rec = (struct record){ .log = &p->log };
    p->client = client;
    p->read_per_turn = read_per_turn < sizeof p->buf ? read_per_turn : sizeof p->buf;
    p->file_offset = file_offset;
    p->got = 0;
    p->checksum = FNV_START;
}

/* One turn of reading; false when the stream has ended or failed. */
static bool peer_read_turn(struct sendfile_peer *p)
{
    ssize_t n = recv(p->client, p->buf, p->read_per_turn, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    if (n <= 0)
        return false;
    size_t bad = tnet_pattern_mismatch(p->buf, (size_t)n, p->file_offset + p->got);
    if (bad < (size_t)n)
        check_failed(&p->log, __LINE__, "wrong byte at stream offset %zu", p->got + bad);
    p->checksum = fnv1a(p->checksum, p->buf, (size_t)n);
    p->got += (size_t)n;
    return true;
}

/* Done once the sendfile completed and the peer holds every byte it reported. */
static bool peer_step(void *arg)
{
    struct sendfile_peer *p = arg;
    bool open = peer_read_turn(p);
    if (p->log.failures)
        return true;
    if (!p->rec.finals)
        return !open;
    return p->rec.res < 0 || p->got >= (size_t)p->rec.res || !open;
}

/* The checksum of the file's bytes [offset, offset + len), read back from the file. */
static uint64_t file_checksum(int fd, uint64_t offset, size_t len)
{
    const size_t chunk = 1u << 20;
    char *buf = malloc(chunk);
    assert_non_null(buf);
    uint64_t h = FNV_START;
    while (len > 0) {
        ssize_t n = pread(fd, buf, len < chunk ? len : chunk, (off_t)offset);
        assert_true(n > 0);
        h = fnv1a(h, buf, (size_t)n);
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    free(buf);
    return h;
}

/* sendfile [offset, offset + len) of file_fd to the server end of a fresh pair and read it on
 * the client: returns the sendfile's result, after checking every byte and the checksum. */
static int sendfile_and_read(io_loop *loop, struct sendfile_peer *p, int client, int server, int file_fd,
                             uint64_t offset, size_t len, size_t read_per_turn)
{
    peer_init(p, client, read_per_turn, offset);
    io_op op = {0};
    int err = io_sendfile(loop, &op, server, file_fd, offset, len, record_cb, &p->rec);
    if (err < 0)
        return err;
    assert_int_equal(p->rec.calls, 0);
    assert_int_equal(run_until(loop, 30000, peer_step, p), 0);
    assert_log_clean(&p->log);
    assert_int_equal(p->rec.calls, 1);
    assert_int_equal(p->rec.flags, 0);
    if (p->rec.res >= 0) {
        assert_int_equal(p->got, p->rec.res);
        assert_true(p->checksum == file_checksum(file_fd, offset, p->got));
    }
    return p->rec.res;
}

void test_sendfile_16mb_to_a_slow_reader(void **state)
{
    struct tree t;
    tree_make(&t);
    write_pattern_file(t.root, "big", BIG_FILE_BYTES);
    int file_fd = open_file(&t, "big");
    int fds_before = tnet_count_open_fds();
    io_loop *loop = loop_new(state, 0, 0);
    struct sendfile_peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    int client, server;
    assert_int_equal(tnet_tcp_pair_rcvbuf(&client, &server, 64 * 1024), 0);
    assert_int_equal(tnet_set_sndbuf(server, 64 * 1024), 0);

    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 0, BIG_FILE_BYTES, 64 * 1024),
                     BIG_FILE_BYTES);

    close(client);
    close(server);
    free(p);
    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    close(file_fd);
    tree_remove(&t);
}

/* A range inside the file, a file that ends before len, an offset past its end, and the
 * same socket carrying one range after another. */
void test_sendfile_ranges_and_short_files(void **state)
{
    struct tree t;
    tree_make(&t);
    int file_fd = open_file(&t, "small");
    int fds_before = tnet_count_open_fds();
    io_loop *loop = loop_new(state, 0, 0);
    struct sendfile_peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);

    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 12345, 54321, 1 << 20), 54321);
    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 1, 1, 1 << 20), 1);
    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 0, SMALL_FILE_BYTES, 4096),
                     SMALL_FILE_BYTES);
    /* The file ends first: the bytes it had, then nothing at all past its end. */
    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, SMALL_FILE_BYTES - 5000, 1 << 20, 1 << 20),
                     5000);
    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 2 * SMALL_FILE_BYTES, 1000, 1 << 20), 0);
    /* Nothing to send completes with 0; and a file offset no off_t can hold is refused. */
    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 0, 0, 1 << 20), 0);
    io_op op = {0};
    assert_int_equal(io_sendfile(loop, &op, server, file_fd, IO_OFFSET_CURRENT, 10, record_cb, &p->rec), -EINVAL);

    /* Steady state opens nothing: twenty more sendfiles leave the fd count as it was. */
    int fds_warm = tnet_count_open_fds();
    for (int i = 0; i < 20; i++)
        assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, (uint64_t)i * 1000, 3000, 1 << 20), 3000);
    assert_int_equal(tnet_count_open_fds(), fds_warm);

    close(client);
    close(server);
    free(p);
    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    close(file_fd);
    tree_remove(&t);
}

/* ---- a sendfile that cannot finish: cancelled, closed, or its peer gone ---- */

#define STUCK_FILE_BYTES (4u << 20)

/* A connection whose client never reads and whose buffers are small: a large sendfile on the
 * server end stays in flight. */
static void stuck_pair(int *client, int *server)
{
    assert_int_equal(tnet_tcp_pair_rcvbuf(client, server, 4096), 0);
    assert_int_equal(tnet_set_sndbuf(*server, 4096), 0);
}

/* After a sendfile ended early, what it had read but not sent must not reach the next one:
 * a new connection gets exactly the file's bytes. */
static void assert_next_sendfile_clean(io_loop *loop, int file_fd)
{
    struct sendfile_peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    int client, server;
    assert_int_equal(tnet_tcp_pair(&client, &server), 0);
    assert_int_equal(sendfile_and_read(loop, p, client, server, file_fd, 0, 300000, 1 << 20), 300000);
    close(client);
    close(server);
    free(p);
}

struct stuck_case {
    struct tree t;
    int file_fd;
    int fds_before;
    io_loop *loop;
    int client, server;
};

static void stuck_begin(void **state, struct stuck_case *sc)
{
    tree_make(&sc->t);
    write_pattern_file(sc->t.root, "big", STUCK_FILE_BYTES);
    sc->file_fd = open_file(&sc->t, "big");
    sc->fds_before = tnet_count_open_fds();
    sc->loop = loop_new(state, 0, 0);
    stuck_pair(&sc->client, &sc->server);
}

static void stuck_end(struct stuck_case *sc)
{
    assert_next_sendfile_clean(sc->loop, sc->file_fd);
    loop_finish(sc->loop);
    assert_int_equal(tnet_count_open_fds(), sc->fds_before);
    close(sc->file_fd);
    tree_remove(&sc->t);
}

void test_sendfile_cancelled_in_flight(void **state)
{
    struct stuck_case sc;
    stuck_begin(state, &sc);
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    assert_int_equal(io_sendfile(sc.loop, &op, sc.server, sc.file_fd, 0, STUCK_FILE_BYTES, record_cb, &rec), 0);
    assert_int_equal(run_for(sc.loop, 30), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(io_cancel(sc.loop, &op), 0);
    assert_int_equal(run_until(sc.loop, 2000, record_final, &rec), 0);
    assert_int_equal(run_for(sc.loop, 20), 0);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.flags, 0);
    assert_int_equal(rec.res, -ECANCELED);
    assert_int_equal(io_cancel(sc.loop, &op), -ENOENT);
    assert_int_equal(io_loop_pending(sc.loop), 0);
    close(sc.client);
    assert_int_equal(close_through_loop(sc.loop, sc.server), 0);
    assert_log_clean(&log);
    stuck_end(&sc);
}

void test_close_during_sendfile(void **state)
{
    struct stuck_case sc;
    stuck_begin(state, &sc);
    struct check_log log = {0};
    struct close_race cr = { .pending.log = &log, .close.log = &log };
    io_op op = {0};
    assert_int_equal(io_sendfile(sc.loop, &op, sc.server, sc.file_fd, 0, STUCK_FILE_BYTES, record_cb, &cr.pending),
                     0);
    close_with_pending(sc.loop, &cr, sc.server);
    assert_true(cr.pending.res < 0);
    close(sc.client);
    assert_log_clean(&log);
    stuck_end(&sc);
}

/* One sendfile and its result, the peer doing nothing meanwhile. */
static int sendfile_result(io_loop *loop, int server, int file_fd, size_t len)
{
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    int err = io_sendfile(loop, &op, server, file_fd, 0, len, record_cb, &rec);
    if (err < 0)
        return err;
    err = run_until(loop, 5000, record_final, &rec);
    if (err < 0)
        return err;
    return rec.calls == 1 && !log.failures ? rec.res : -EPROTO;
}

/* The peer goes away: the sendfile fails, and no SIGPIPE kills the process (this program
 * leaves SIGPIPE at its default action, which is to die). */
void test_sendfile_to_a_peer_gone(void **state)
{
    struct stuck_case sc;
    stuck_begin(state, &sc);
    /* Reset by the peer in the middle of a transfer it stopped reading. */
    struct check_log log = {0};
    struct record rec = { .log = &log };
    io_op op = {0};
    assert_int_equal(io_sendfile(sc.loop, &op, sc.server, sc.file_fd, 0, STUCK_FILE_BYTES, record_cb, &rec), 0);
    assert_int_equal(run_for(sc.loop, 30), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(tnet_set_linger_reset(sc.client), 0);
    close(sc.client);
    assert_int_equal(run_until(sc.loop, 5000, record_final, &rec), 0);
    assert_int_equal(rec.calls, 1);
    assert_true(rec.res == -ECONNRESET || rec.res == -EPIPE);
    /* Whatever follows on that socket fails with EPIPE, which raises SIGPIPE unless held back. */
    assert_int_equal(sendfile_result(sc.loop, sc.server, sc.file_fd, 100000), -EPIPE);
    assert_int_equal(close_through_loop(sc.loop, sc.server), 0);

    /* Our own end shut for writing. */
    assert_int_equal(tnet_tcp_pair(&sc.client, &sc.server), 0);
    assert_int_equal(shutdown(sc.server, SHUT_WR), 0);
    assert_int_equal(sendfile_result(sc.loop, sc.server, sc.file_fd, 100000), -EPIPE);
    close(sc.client);
    assert_int_equal(close_through_loop(sc.loop, sc.server), 0);
    assert_log_clean(&log);
    stuck_end(&sc);
}

/* ---- rule 8: one op of each kind per fd ---- */

struct busy_case {
    struct check_log log;
    struct record recv, send, accept, read, stuck_file, opens[2], stats[2];
    io_op recv_op, send_op, accept_op, read_op, file_op, open_ops[2], stat_ops[2], extra;
    struct statx stx[2];
    char read_buf[16];
};

static bool busy_finals_in(void *arg)
{
    struct busy_case *b = arg;
    return b->opens[0].finals && b->opens[1].finals && b->stats[0].finals && b->stats[1].finals;
}

void test_one_op_of_a_kind_per_fd(void **state)
{
    struct tree t;
    tree_make(&t);
    int file_fd = open_file(&t, "small");
    int fds_before = tnet_count_open_fds();
    io_loop *loop = loop_new(state, 0, 0);
    struct busy_case *b = calloc(1, sizeof *b);
    assert_non_null(b);
    struct record *recs[] = { &b->recv, &b->send, &b->accept, &b->read, &b->stuck_file, &b->opens[0], &b->opens[1],
                              &b->stats[0], &b->stats[1] };
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
        recs[i]->log = &b->log;
    struct record refused = { .log = &b->log };
    int client, server;
    stuck_pair(&client, &server);
    uint16_t port;
    int listen_fd = tnet_listen(4, &port);
    assert_true(listen_fd >= 0);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    char *data = calloc(1, STUCK_FILE_BYTES);
    assert_non_null(data);

    /* A recv and a send on one stream are two kinds: both go in flight.  A second of either,
     * or a sendfile beside the send (both write the stream), is refused. */
    assert_int_equal(io_recv(loop, &b->recv_op, server, IO_MULTISHOT, record_recv_cb, &b->recv), 0);
    assert_int_equal(io_send(loop, &b->send_op, server, data, STUCK_FILE_BYTES, record_cb, &b->send), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(io_recv(loop, &b->extra, server, 0, record_recv_cb, &refused), -EBUSY);
    assert_int_equal(io_recv(loop, &b->extra, server, IO_MULTISHOT, record_recv_cb, &refused), -EBUSY);
    assert_int_equal(io_send(loop, &b->extra, server, "x", 1, record_cb, &refused), -EBUSY);
    assert_int_equal(io_sendfile(loop, &b->extra, server, file_fd, 0, 10, record_cb, &refused), -EBUSY);
    /* Accept and read likewise. */
    assert_int_equal(io_accept(loop, &b->accept_op, listen_fd, 0, record_cb, &b->accept), 0);
    assert_int_equal(io_accept(loop, &b->extra, listen_fd, IO_MULTISHOT, record_cb, &refused), -EBUSY);
    assert_int_equal(io_read(loop, &b->read_op, p[0], b->read_buf, sizeof b->read_buf, IO_OFFSET_CURRENT, record_cb,
                             &b->read), 0);
    assert_int_equal(io_read(loop, &b->extra, p[0], b->read_buf, 1, IO_OFFSET_CURRENT, record_cb, &refused), -EBUSY);
    /* Opens and statx on one directory are not limited. */
    struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(io_openat2(loop, &b->open_ops[i], t.root, "small", &how, record_cb, &b->opens[i]), 0);
        assert_int_equal(io_statx(loop, &b->stat_ops[i], t.root, "small", 0, STATX_SIZE, &b->stx[i], record_cb,
                                  &b->stats[i]), 0);
    }
    assert_int_equal(io_loop_pending(loop), 4 + 4);
    assert_int_equal(run_until(loop, 2000, busy_finals_in, b), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(b->opens[i].res >= 0);
        close(b->opens[i].res);
        assert_int_equal(b->stats[i].res, 0);
        assert_int_equal(b->stx[i].stx_size, SMALL_FILE_BYTES);
    }

    /* The refusals changed nothing: each op in flight still completes as it should. */
    int peer = tnet_connect(port);
    assert_true(peer >= 0);
    assert_int_equal(write(p[1], "pipe", 4), 4);
    assert_int_equal(tnet_write_all(client, "hello", 5, 1000), 0);
    assert_int_equal(run_until(loop, 2000, record_final, &b->read), 0);
    assert_int_equal(b->read.res, 4);
    assert_int_equal(run_until(loop, 2000, record_final, &b->accept), 0);
    assert_true(b->accept.res >= 0);
    close(b->accept.res);
    close(peer);
    assert_int_equal(run_until(loop, 2000, record_called, &b->recv), 0);
    assert_int_equal(b->recv.res, 5);
    assert_int_equal(refused.calls, 0);

    /* Once an op has ended, its kind is free again: a sendfile follows the cancelled send. */
    assert_int_equal(io_cancel(loop, &b->send_op), 0);
    assert_int_equal(run_until(loop, 2000, record_final, &b->send), 0);
    assert_true(b->send.res < 0);
    assert_int_equal(io_sendfile(loop, &b->file_op, server, file_fd, 0, SMALL_FILE_BYTES, record_cb, &b->stuck_file),
                     0);
    assert_int_equal(io_send(loop, &b->extra, server, "x", 1, record_cb, &refused), -EBUSY);
    assert_int_equal(io_sendfile(loop, &b->extra, server, file_fd, 0, 1, record_cb, &refused), -EBUSY);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(b->stuck_file.calls, 0);

    /* io_close ends the recv and the sendfile. */
    struct close_race cr = { .pending.log = &b->log, .close.log = &b->log };
    io_op close_op = {0};
    assert_int_equal(io_close(loop, &close_op, server, record_cb, &cr.close), 0);
    assert_int_equal(run_until(loop, 2000, nothing_pending, loop), 0);
    assert_int_equal(b->recv.finals, 1);
    assert_int_equal(b->stuck_file.calls, 1);
    assert_true(b->stuck_file.res < 0);
    assert_int_equal(cr.close.res, 0);
    assert_int_equal(refused.calls, 0);
    assert_log_clean(&b->log);

    close(client);
    close(listen_fd);
    close(p[0]);
    close(p[1]);
    free(data);
    free(b);
    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    close(file_fd);
    tree_remove(&t);
}

/* ---- many writers waiting for full sockets at once ---- */

/* Sends and sendfiles of a megabyte each on 32 connections whose clients read 2 KB a turn:
 * every writer meets a full socket again and again.  A backend must wait for room each time
 * (the kernel may even answer a send on a non-blocking socket with -EAGAIN) and never pass
 * -EAGAIN, a short count or a reordered byte on to the caller. */
#define WRITERS 32
#define WRITER_BYTES (1u << 20)
#define WRITER_READ_PER_TURN 2048

struct writers {
    struct check_log log;
    int client[WRITERS], server[WRITERS];
    struct record rec[WRITERS];
    io_op op[WRITERS];
    size_t got[WRITERS];
    char buf[WRITER_READ_PER_TURN];
};

static bool writers_step(void *arg)
{
    struct writers *w = arg;
    bool all_done = true;
    for (int i = 0; i < WRITERS; i++) {
        ssize_t n = recv(w->client[i], w->buf, sizeof w->buf, MSG_DONTWAIT);
        if (n > 0) {
            size_t bad = tnet_pattern_mismatch(w->buf, (size_t)n, w->got[i]);
            if (bad < (size_t)n)
                check_failed(&w->log, __LINE__, "writer %d: wrong byte at %zu", i, w->got[i] + bad);
            w->got[i] += (size_t)n;
        } else if (n == 0 || errno != EAGAIN) {
            check_failed(&w->log, __LINE__, "writer %d: recv %zd after %zu bytes", i, n, w->got[i]);
        }
        all_done = all_done && w->rec[i].finals && w->got[i] == WRITER_BYTES;
    }
    return all_done || w->log.failures;
}

void test_many_writers_on_full_sockets(void **state)
{
    struct tree t;
    tree_make(&t);
    write_pattern_file(t.root, "big", WRITER_BYTES);
    int file_fd = open_file(&t, "big");
    char *data = malloc(WRITER_BYTES);
    assert_non_null(data);
    tnet_pattern_fill(data, WRITER_BYTES, 0);
    int fds_before = tnet_count_open_fds();
    io_loop *loop = loop_new(state, 0, 0);
    struct writers *w = calloc(1, sizeof *w);
    assert_non_null(w);
    for (int i = 0; i < WRITERS; i++) {
        assert_int_equal(tnet_tcp_pair_rcvbuf(&w->client[i], &w->server[i], 8192), 0);
        assert_int_equal(tnet_set_sndbuf(w->server[i], 4096), 0);
        assert_int_equal(tnet_set_nonblocking(w->client[i], 1), 0);
        w->rec[i].log = &w->log;
        int fd = w->server[i];
        if (i % 2)
            assert_int_equal(io_sendfile(loop, &w->op[i], fd, file_fd, 0, WRITER_BYTES, record_cb, &w->rec[i]), 0);
        else
            assert_int_equal(io_send(loop, &w->op[i], fd, data, WRITER_BYTES, record_cb, &w->rec[i]), 0);
    }
    int rc = run_until(loop, 30000, writers_step, w);
    assert_log_clean(&w->log);
    assert_int_equal(rc, 0);
    for (int i = 0; i < WRITERS; i++) {
        assert_int_equal(w->rec[i].calls, 1);
        assert_int_equal(w->rec[i].res, WRITER_BYTES);
        close(w->client[i]);
        close(w->server[i]);
    }
    free(w);
    loop_finish(loop);
    assert_int_equal(tnet_count_open_fds(), fds_before);
    free(data);
    close(file_fd);
    tree_remove(&t);
}
