/* loop_echo.c - an echo server on the bare event loop (pkg-config ioserve-loop): no connection
 * layer, no protocol library, only the completion interface of <ioserve/loop.h>.
 *
 * usage: loop_echo PORT [uring|epoll]   (PORT 0: the kernel picks; the port is printed)
 *
 * One recv at a time per connection: a received buffer is sent back whole, and only once the
 * send has completed is the buffer given back to the pool and the next recv armed, so memory
 * per connection is one pool buffer at most and bytes leave in the order they came.  The same
 * code runs on the io_uring proactor and the epoll reactor: the loop hands back the same
 * completions either way.  SIGINT/SIGTERM stop it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ioserve/loop.h>

struct client {
    io_op recv, send, close;
    int fd;
};

static void client_recv(io_loop *loop, struct client *c);

static void on_closed(io_loop *loop, io_op *op, int res, unsigned flags)
{
    free(op->data);
}

static void client_end(io_loop *loop, struct client *c)
{
    if (io_close(loop, &c->close, c->fd, on_closed, c) < 0) {
        close(c->fd);
        free(c);
    }
}

static void on_sent(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct client *c = op->data;
    io_buf_release(loop, c->recv.buf); /* the bytes are gone: the buffer goes back */
    if (res < 0)
        client_end(loop, c);
    else
        client_recv(loop, c);
}

static void on_received(io_loop *loop, io_op *op, int res, unsigned flags)
{
    struct client *c = op->data;
    if (res <= 0) { /* EOF or an error */
        client_end(loop, c);
        return;
    }
    if (io_send(loop, &c->send, c->fd, op->buf.data, (size_t)res, on_sent, c) < 0) {
        io_buf_release(loop, op->buf);
        client_end(loop, c);
    }
}

static void client_recv(io_loop *loop, struct client *c)
{
    if (io_recv(loop, &c->recv, c->fd, 0, on_received, c) < 0)
        client_end(loop, c);
}

static void on_accepted(io_loop *loop, io_op *op, int res, unsigned flags)
{
    if (res >= 0) {
        struct client *c = calloc(1, sizeof(*c));
        if (!c) {
            close(res);
        } else {
            c->fd = res;
            client_recv(loop, c);
        }
    }
    if (!(flags & IO_CQE_MORE)) /* the multishot accept ended: stop */
        io_loop_stop(loop);
}

static void on_signal(io_loop *loop, io_op *op, int res, unsigned flags)
{
    io_loop_stop(loop);
}

static int listen_on(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("loop_echo: listen");
        exit(1);
    }
    printf("loop_echo: listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [uring|epoll]\n", argv[0]);
        return 2;
    }
    io_loop_config cfg = {.backend = argc > 2 && strcmp(argv[2], "epoll") == 0 ? IO_BACKEND_EPOLL
                                     : argc > 2 && strcmp(argv[2], "uring") == 0 ? IO_BACKEND_URING
                                                                                   : IO_BACKEND_AUTO};
    io_loop *loop;
    int err = io_loop_create(&loop, &cfg);
    if (err < 0) {
        fprintf(stderr, "loop_echo: io_loop_create: %s\n", strerror(-err));
        return 1;
    }
    fprintf(stderr, "loop_echo: backend %s\n", io_loop_describe(loop));
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    struct signalfd_siginfo info;
    io_op accept_op, signal_op;
    int listen_fd = listen_on((unsigned)atoi(argv[1]));
    if (signal_fd < 0 ||
        io_read(loop, &signal_op, signal_fd, &info, sizeof(info), IO_OFFSET_CURRENT, on_signal, NULL) < 0 ||
        io_accept(loop, &accept_op, listen_fd, IO_MULTISHOT, on_accepted, NULL) < 0) {
        fprintf(stderr, "loop_echo: cannot arm the accept and the signal read\n");
        return 1;
    }
    err = io_loop_run(loop);
    /* The connections still open end with the process: a longer-lived program would
     * io_close() each and run the loop until their completions came back. */
    io_loop_destroy(loop);
    close(listen_fd);
    close(signal_fd);
    return err < 0 ? 1 : 0;
}
