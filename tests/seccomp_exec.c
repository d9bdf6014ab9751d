/* seccomp_exec.c - run a program where io_uring cannot be set up.
 *
 * usage: seccomp_exec ENOSYS|EPERM PROGRAM [ARG...]
 * Installs a seccomp filter that makes io_uring_setup(2) fail with the given errno (ENOSYS: a
 * kernel without io_uring; EPERM: a container's seccomp profile or kernel.io_uring_disabled),
 * then execs PROGRAM.  Every other system call is allowed.  Exit 126 if the filter cannot be
 * installed, 127 if the exec fails.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int errno_named(const char *name)
{
    if (strcmp(name, "ENOSYS") == 0)
        return ENOSYS;
    if (strcmp(name, "EPERM") == 0)
        return EPERM;
    return -1;
}

static int deny_io_uring_setup(int code)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return -ENOMEM;
    /* libseccomp sets no_new_privs itself, so no privilege is needed. */
    int err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO((unsigned)code), SCMP_SYS(io_uring_setup), 0);
    if (err == 0)
        err = seccomp_load(ctx);
    seccomp_release(ctx);
    return err;
}

int main(int argc, char **argv)
{
    int code = argc >= 3 ? errno_named(argv[1]) : -1;
    if (code < 0) {
        fprintf(stderr, "usage: %s ENOSYS|EPERM PROGRAM [ARG...]\n", argv[0]);
        return 2;
    }
    int err = deny_io_uring_setup(code);
    if (err < 0) {
        fprintf(stderr, "seccomp_exec: cannot install the filter: %s\n", strerror(-err));
        return 126;
    }
    execv(argv[2], argv + 2);
    fprintf(stderr, "seccomp_exec: cannot run %s: %s\n", argv[2], strerror(errno));
    return 127;
}
