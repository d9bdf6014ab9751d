/* backend_config.h - the loop config for a backend named as the server test matrix names it,
 * for the in-process suites that take the name as argv[1] (test_conn, test_http_e2e_batch).
 */
#ifndef IOSERVE_TESTS_BACKEND_CONFIG_H
#define IOSERVE_TESTS_BACKEND_CONFIG_H

#include "loop.h"

#define BACKEND_CONFIG_NAMES "uring|epoll-lt|epoll-et|poll|select"

/* 0 with *cfg set (every other field 0: the loop's defaults), or -1 for an unknown name. */
int backend_config(const char *name, io_loop_config *cfg);

#endif
