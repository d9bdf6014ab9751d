/* uring_compat.h - io_uring ABI constants newer than some liburing headers (Debian's 2.3 here).
 * Their values are fixed by the kernel's ABI, so defining them is safe; whether the running
 * kernel has them is a run-time question, answered by probing (uring_probe.c).  Shared with
 * bench/ioload, which includes it rather than keeping copies. */
#ifndef IOSERVE_PROACTOR_URING_COMPAT_H
#define IOSERVE_PROACTOR_URING_COMPAT_H

#include <liburing.h>

#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_REGISTER_ENABLE_RINGS
#define IORING_REGISTER_ENABLE_RINGS 12
#endif

#endif
