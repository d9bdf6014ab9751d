/* kernel_probe.h - what the kernel grants, asked of it directly (liburing), never of ioserve.
 *
 * Tests use it to decide whether a configuration can run at all, so a configuration the kernel
 * refuses is skipped visibly (exit 77, meson's SKIP, with the reason) instead of passing as the
 * plain ring it would silently fall back to.
 */
#ifndef IOSERVE_TESTS_KERNEL_PROBE_H
#define IOSERVE_TESTS_KERNEL_PROBE_H

#include <stddef.h>

#define TEST_SKIP_STATUS 77 /* meson: the test was skipped */

/* 0 when an io_uring SQPOLL ring can be set up here, else -errno with a reason in why. */
int kernel_probe_sqpoll(char *why, size_t why_len);

#endif
