/* backend_config.c - backend names to loop configs (backend_config.h). */
#include "backend_config.h"

#include <string.h>

int backend_config(const char *name, io_loop_config *cfg)
{
    static const struct {
        const char *name;
        io_loop_config cfg;
    } backends[] = {
        {"uring", {.backend = IO_BACKEND_URING}},
        {"epoll-lt", {.backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_LT}},
        {"epoll-et", {.backend = IO_BACKEND_EPOLL, .epoll_mode = IO_EPOLL_ET}},
        {"poll", {.backend = IO_BACKEND_POLL}},
        {"select", {.backend = IO_BACKEND_SELECT}},
    };
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (strcmp(name, backends[i].name) == 0) {
            *cfg = backends[i].cfg;
            return 0;
        }
    }
    return -1;
}
