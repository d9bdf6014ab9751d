/* alloc_count.h - the counter file shared by the heap-allocation interposer (alloc_count.c,
 * loaded into a program with LD_PRELOAD) and the test that reads it while the program runs.
 *
 * The file named by ALLOC_COUNT_FILE_ENV holds one alloc_counts, mapped MAP_SHARED by both
 * sides: the interposer adds one to the slot of every allocating call the program makes (from
 * any thread, atomically); the reader loads the slots whenever it likes, no signal needed.
 * Calls made before the interposer's constructor ran are added when it maps the file.
 */
#ifndef IOSERVE_TESTS_ALLOC_COUNT_H
#define IOSERVE_TESTS_ALLOC_COUNT_H

#include <stdatomic.h>
#include <stdint.h>

#define ALLOC_COUNT_FILE_ENV "IOSERVE_ALLOC_COUNT_FILE"

enum alloc_kind {
    ALLOC_MALLOC,  /* malloc, and the libc functions that allocate through it (strdup, ...) */
    ALLOC_CALLOC,
    ALLOC_REALLOC, /* realloc, reallocarray */
    ALLOC_ALIGNED, /* posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
    ALLOC_KINDS
};

typedef struct alloc_counts {
    _Atomic uint64_t calls[ALLOC_KINDS];
    /* Set by the reader: while non-zero, the interposer writes the call stack of each
     * allocation to the program's stderr and counts this down, so a fouled window names its
     * first allocations without flooding a pipe nobody reads yet. */
    _Atomic uint32_t trace;
} alloc_counts;

#endif
