/* blocking.c - the blocking single-process baseline: accept one client, serve it to the end,
 * then accept the next.  One client at a time; every other client waits in the listen backlog
 * until the one being served leaves.  No process or thread is ever created. */
#include "baseline.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    static const struct baseline_model model = {.name = "baseline-blocking", .takes_workers = false};
    struct baseline_config cfg;
    int status;
    int listen_fd = baseline_start(argc, argv, &model, &cfg, &status);
    if (listen_fd < 0)
        return status;
    for (;;) {
        int fd = baseline_accept(listen_fd);
        if (fd < 0) {
            fprintf(stderr, "%s: accept: %s\n", model.name, strerror(-fd));
            return 1;
        }
        baseline_serve(fd, &cfg);
    }
}
