/* threads.c - the thread-per-connection baseline: the main thread accepts, and every client
 * gets a detached thread of its own that serves it to the end and exits.  A thread (a stack of
 * BASELINE_THREAD_STACK and a kernel task) per client; when no thread can be created, that
 * client is closed at once: the model's limit, reported on stderr. */
#include "baseline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct client {
    int fd;
    const struct baseline_config *cfg;
};

static void *serve_client(void *arg)
{
    struct client client = *(struct client *)arg;
    free(arg);
    baseline_serve(client.fd, client.cfg);
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct baseline_model model = {.name = "baseline-threads", .takes_workers = false};
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
        struct client *client = malloc(sizeof *client);
        int err = client != NULL ? 0 : -ENOMEM;
        if (client != NULL) {
            *client = (struct client){.fd = fd, .cfg = &cfg};
            err = baseline_spawn_detached(serve_client, client);
        }
        if (err != 0) {
            fprintf(stderr, "%s: no thread for a client, closing it: %s\n", model.name, strerror(-err));
            free(client);
            close(fd);
        }
    }
}
