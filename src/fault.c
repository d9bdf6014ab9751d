/* fault.c - the fault plan, its hit counters and the allocation wrappers (fault.h).
 *
 * Built only with -Dfault_injection=true.  The plan and the counters are process-wide by
 * necessity: malloc takes no context to carry them, and a plan names hits of the whole
 * program.  The plan is written once, before main, and read-only after; the counters are
 * atomic, so loops on several threads may share them.  The link wraps ioserve's own calls to
 * malloc, calloc, realloc and strdup (-Wl,--wrap): libc's and other libraries' allocations
 * inside them are not sites of ioserve's and are left alone.
 */
#include "fault.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ALLOC_SITES 4096u /* a power of two, far above what ioserve has */

struct fault_rule {
    int result;     /* 0: no rule for the site */
    uint64_t first; /* the hit that fails first */
    uint64_t every; /* then every this many hits (0: once) */
    uint64_t times; /* at most this many failures (0: no limit) */
};

static const char *const site_names[FAULT_SITES] = {
    [FAULT_ACCEPT] = "accept", [FAULT_RECV] = "recv",     [FAULT_SEND] = "send",
    [FAULT_SEND_SHORT] = "send-short", [FAULT_EVENT] = "event", [FAULT_CANCEL] = "cancel",
    [FAULT_CANCEL_LATE] = "cancel-late", [FAULT_ALLOC] = "alloc", [FAULT_CQ_OVERFLOW] = "cq-overflow",
};

static const struct {
    const char *name;
    int result;
} results[] = {
    {"ENOBUFS", -ENOBUFS}, {"EAGAIN", -EAGAIN}, {"EMFILE", -EMFILE}, {"ENFILE", -ENFILE},
    {"ECONNRESET", -ECONNRESET}, {"ECANCELED", -ECANCELED}, {"ENOMEM", -ENOMEM},
    {"short", FAULT_SHORT}, {"spurious", FAULT_SHORT},
};

static struct fault_rule plan[FAULT_SITES];
static _Atomic uint64_t hits[FAULT_SITES];
static _Atomic uint64_t fired[FAULT_SITES];

int fault_hit(enum fault_site site)
{
    const struct fault_rule *r = &plan[site];
    uint64_t n = atomic_fetch_add_explicit(&hits[site], 1, memory_order_relaxed) + 1;
    if (!r->result || n < r->first)
        return 0;
    if (n != r->first && (!r->every || (n - r->first) % r->every != 0))
        return 0;
    if (r->times && atomic_load_explicit(&fired[site], memory_order_relaxed) >= r->times)
        return 0;
    atomic_fetch_add_explicit(&fired[site], 1, memory_order_relaxed);
    return r->result;
}

int fault_shorten(enum fault_site site, size_t *len)
{
    if (*len < 2 || fault_hit(site) != FAULT_SHORT)
        return 0;
    *len /= 2;
    return 1;
}

int fault_errno(enum fault_site site)
{
    int res = fault_hit(site);
    if (res >= 0)
        return 0;
    errno = -res;
    return 1;
}

/* ---- the plan ---- */

static int parse_site(const char *word, size_t len)
{
    for (int i = 0; i < FAULT_SITES; i++)
        if (strlen(site_names[i]) == len && strncmp(site_names[i], word, len) == 0)
            return i;
    return -1;
}

static int parse_result(const char *word, size_t len)
{
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        if (strlen(results[i].name) == len && strncmp(results[i].name, word, len) == 0)
            return results[i].result;
    return 0;
}

/* One SITE:RESULT:FIRST:EVERY:TIMES rule ending at ',' or the end; 0 or -EINVAL. */
static int parse_rule(const char **text)
{
    const char *s = *text;
    const char *colon = strchr(s, ':');
    int site = colon ? parse_site(s, (size_t)(colon - s)) : -1;
    if (site < 0)
        return -EINVAL;
    s = colon + 1;
    colon = strchr(s, ':');
    int result = colon ? parse_result(s, (size_t)(colon - s)) : 0;
    if (!result)
        return -EINVAL;
    uint64_t num[3];
    s = colon + 1;
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        num[i] = strtoull(s, &end, 10);
        char sep = i < 2 ? ':' : ',';
        if (*s < '0' || *s > '9' || errno || (*end != sep && !(i == 2 && *end == '\0')))
            return -EINVAL;
        s = *end ? end + 1 : end;
    }
    if (num[0] == 0 || (s[-1] == ',' && !*s)) /* FIRST counts from 1; no empty rule after a ',' */
        return -EINVAL;
    plan[site] = (struct fault_rule){ .result = result, .first = num[0], .every = num[1], .times = num[2] };
    *text = s;
    return 0;
}

__attribute__((constructor)) static void read_plan(void)
{
    const char *text = getenv("IOSERVE_FAULTS");
    if (!text)
        return;
    while (*text) {
        const char *rule = text;
        if (parse_rule(&text) < 0) {
            fprintf(stderr, "ioserve-fault: bad rule in IOSERVE_FAULTS at '%s' "
                            "(SITE:RESULT:FIRST:EVERY:TIMES)\n", rule);
            exit(2);
        }
    }
}

__attribute__((destructor)) static void report(void)
{
    for (int i = 0; i < FAULT_SITES; i++) {
        uint64_t n = atomic_load(&hits[i]);
        if (n || plan[i].result)
            fprintf(stderr, "ioserve-fault: %s hits=%llu fired=%llu\n", site_names[i], (unsigned long long)n,
                    (unsigned long long)atomic_load(&fired[i]));
    }
}

/* ---- allocation sites ---- */

static uintptr_t alloc_sites[MAX_ALLOC_SITES];
static atomic_flag alloc_sites_lock = ATOMIC_FLAG_INIT;

/* True the first time site calls: an open-addressed set of the callers seen so far. */
static int new_alloc_site(uintptr_t site)
{
    while (atomic_flag_test_and_set_explicit(&alloc_sites_lock, memory_order_acquire))
        ;
    int fresh = 0;
    for (uint32_t i = (uint32_t)(site >> 4) & (MAX_ALLOC_SITES - 1), probes = 0; probes < MAX_ALLOC_SITES;
         i = (i + 1) & (MAX_ALLOC_SITES - 1), probes++) {
        if (alloc_sites[i] == site)
            break;
        if (alloc_sites[i] == 0) {
            alloc_sites[i] = site;
            fresh = 1;
            break;
        }
    }
    atomic_flag_clear_explicit(&alloc_sites_lock, memory_order_release);
    return fresh;
}

/* Whether this call, from caller, fails with ENOMEM. */
static int alloc_fails(void *caller)
{
    if (!new_alloc_site((uintptr_t)caller) || fault_hit(FAULT_ALLOC) != -ENOMEM)
        return 0;
    errno = ENOMEM;
    return 1;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
char *__wrap_strdup(const char *s);

void *__wrap_malloc(size_t size)
{
    return alloc_fails(__builtin_return_address(0)) ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails(__builtin_return_address(0)) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *ptr, size_t size)
{
    return alloc_fails(__builtin_return_address(0)) ? NULL : __real_realloc(ptr, size);
}

char *__wrap_strdup(const char *s)
{
    return alloc_fails(__builtin_return_address(0)) ? NULL : __real_strdup(s);
}
