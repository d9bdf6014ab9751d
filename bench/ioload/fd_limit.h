/* fd_limit.h - making room for one descriptor per connection.
 *
 * Raises RLIMIT_NOFILE's soft limit to what the run needs, and when that is above the hard
 * limit and we are privileged, the hard limit too (up to fs.nr_open).  Whatever it changes it
 * says on `log`, so nobody is surprised by a process limit that moved.
 */
#ifndef IOLOAD_FD_LIMIT_H
#define IOLOAD_FD_LIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Returns 0, or a negative errno with the reason in `err`. */
int fd_limit_raise(uint64_t needed, FILE *log, char *err, size_t err_len);

#endif
