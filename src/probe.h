/* probe.h - `ioserve --probe`: what this machine offers each backend.
 *
 * Prints the kernel version, each backend's feature lines (its report()), whether an io_uring
 * loop can be set up here (and the errno when not), and the backend --backend auto would pick
 * and why.  Creates and destroys loops to find out; serves nothing.  Returns 0 or -errno.
 */
#ifndef IOSERVE_PROBE_H
#define IOSERVE_PROBE_H

#include <stdio.h>

int probe_report(FILE *out);

#endif
