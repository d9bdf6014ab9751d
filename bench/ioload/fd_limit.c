/* fd_limit.c - RLIMIT_NOFILE raising for fd_limit.h. */
#include "fd_limit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

static uint64_t nr_open(void)
{
    unsigned long long value = 0;
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    if (f) {
        if (fscanf(f, "%llu", &value) != 1)
            value = 0;
        fclose(f);
    }
    return value ? value : 1024 * 1024;
}

int fd_limit_raise(uint64_t needed, FILE *log, char *err, size_t err_len)
{
    struct rlimit old;
    if (getrlimit(RLIMIT_NOFILE, &old) < 0) {
        snprintf(err, err_len, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return -errno;
    }
    if (old.rlim_cur >= needed)
        return 0;
    struct rlimit want = old;
    want.rlim_cur = needed;
    if (old.rlim_max < needed) {
        if (needed > nr_open()) {
            snprintf(err, err_len, "%llu descriptors needed but fs.nr_open is %llu",
                     (unsigned long long)needed, (unsigned long long)nr_open());
            return -EMFILE;
        }
        want.rlim_max = needed;
    }
    if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
        int saved = errno;
        snprintf(err, err_len, "%llu descriptors needed; RLIMIT_NOFILE is %llu (hard %llu) and "
                 "raising it failed: %s", (unsigned long long)needed,
                 (unsigned long long)old.rlim_cur, (unsigned long long)old.rlim_max,
                 strerror(saved));
        return -saved;
    }
    fprintf(log, "ioload: raised RLIMIT_NOFILE from %llu (hard %llu) to %llu (hard %llu)\n",
            (unsigned long long)old.rlim_cur, (unsigned long long)old.rlim_max,
            (unsigned long long)want.rlim_cur, (unsigned long long)want.rlim_max);
    return 0;
}
