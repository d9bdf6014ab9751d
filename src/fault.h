/* fault.h - test-only fault injection: make system calls, io_uring completions and heap
 * allocations fail the way the kernel and libc may, at chosen hits.
 *
 * Compiled in only by the meson option -Dfault_injection=true (which defines
 * IOSERVE_FAULT_INJECTION); otherwise every hook below is a constant and the code it guards
 * is compiled out, so a release binary carries no trace of it.  In a fault build the plan is
 * read once, at start-up, from the environment variable IOSERVE_FAULTS: a comma-separated
 * list of rules
 *
 *     SITE:RESULT:FIRST:EVERY:TIMES
 *
 * meaning: of the hits of SITE (counted from 1, all threads together), hit FIRST fails with
 * RESULT, then every EVERY-th hit after it (0: no more), at most TIMES in all (0: no limit).
 * RESULT is an errno name (ENOBUFS, EAGAIN, EMFILE, ENFILE, ECONNRESET, ECANCELED, ENOMEM)
 * or, for send-short and event, "short" / "spurious".  A malformed plan is reported on stderr
 * and ends the program with status 2: a test must never run without the faults it asked for.
 * At exit one line per site that was hit or planned goes to stderr:
 *     ioserve-fault: SITE hits=N fired=M
 * which tells a test how many hits (for alloc: distinct allocation sites) a scenario reaches.
 * docs/faults.md says where each site is and what the server does about it.
 */
#ifndef IOSERVE_FAULT_H
#define IOSERVE_FAULT_H

#include <stddef.h>

enum fault_site {
    FAULT_ACCEPT,     /* accept: reactor accept4(2), proactor accept SQE */
    FAULT_RECV,       /* recv: reactor recv(2), proactor buffer-ring recv SQE */
    FAULT_SEND,       /* send errors: reactor send(2)/sendmsg(2), proactor send SQE */
    FAULT_SEND_SHORT, /* a send that moves only half of its first buffer */
    FAULT_EVENT,      /* reactor: an epoll event dispatched twice (readiness gone stale) */
    FAULT_CANCEL,     /* proactor: a cancelled op's CQE says -ECANCELED though it had finished */
    FAULT_CANCEL_LATE, /* proactor: bytes a recv brought after its cancel to pause reading was
                          asked (counted only: the kernel took them, so they must be delivered) */
    FAULT_ALLOC,      /* the first call from each allocation site not seen before */
    FAULT_CQ_OVERFLOW, /* proactor: the kernel kept CQEs the CQ had no room for (counted only) */
    FAULT_SITES
};

#define FAULT_SHORT 1 /* fault_hit's answer for send-short and event */

#ifdef IOSERVE_FAULT_INJECTION

/* Count a hit of site: 0 when it passes, a negative errno or FAULT_SHORT when it fails. */
int fault_hit(enum fault_site site);
/* 1 when the plan shortens this hit of site: *len (at least 2) is halved. */
int fault_shorten(enum fault_site site, size_t *len);
/* 1 with errno set when the plan fails this hit of site, else 0. */
int fault_errno(enum fault_site site);

#define FAULT_HIT(site) fault_hit(site)
#define FAULT_SHORTEN(site, len) fault_shorten((site), (len))
/* A syscall that returns -1 with errno on failure, unless the plan fails it first. */
#define FAULT_SYSCALL(site, call) (fault_errno(site) ? -1 : (call))

#else

#define FAULT_HIT(site) 0
#define FAULT_SHORTEN(site, len) 0
#define FAULT_SYSCALL(site, call) (call)

#endif

#endif
