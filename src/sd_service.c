/* sd_service.c - socket activation and sd_notify through libsystemd (contract in sd_service.h). */
#include "sd_service.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

int sd_service_listener(int *fd, const char **why)
{
    int n = sd_listen_fds(1);
    if (n <= 0) {
        *why = "reading LISTEN_FDS";
        return n;
    }
    if (n > 1) {
        for (int i = 0; i < n; i++)
            close(SD_LISTEN_FDS_START + i);
        *why = "systemd passed more than one socket; ioserve serves one address (one ListenStream=)";
        return -EINVAL;
    }
    int got = SD_LISTEN_FDS_START;
    if (sd_is_socket_inet(got, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
        close(got);
        *why = "the socket systemd passed is not a listening TCP socket";
        return -EINVAL;
    }
    int flags = fcntl(got, F_GETFL);
    if (flags < 0 || fcntl(got, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(got, F_SETFD, FD_CLOEXEC) < 0) {
        int err = -errno;
        close(got);
        *why = "making the socket systemd passed non-blocking";
        return err;
    }
    *fd = got;
    return 1;
}

void sd_service_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", status, (unsigned long)getpid());
}

void sd_service_stopping(void *unused)
{
    (void)unused;
    sd_notify(0, "STOPPING=1\nSTATUS=draining connections");
}
