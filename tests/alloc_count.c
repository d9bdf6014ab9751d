/* alloc_count.c - an LD_PRELOAD interposer that counts every heap allocation of a program.
 *
 * It defines the public allocating functions of the C library, counts each call in the
 * shared file of alloc_count.h, and forwards to glibc's own allocator through its exported
 * __libc_* entry points (no dlsym, so no allocation while resolving).  glibc calls malloc
 * through the PLT from inside itself too (strdup, fopen, ...), so those land here as well.
 * free() is not interposed: it releases memory, it does not take it.
 * Not for sanitizer builds: ASan and TSan replace the allocator themselves.
 */
#include "alloc_count.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* glibc's allocator under the names it exports for interposers to forward to. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

/* Process-wide by necessity: malloc takes no context to carry them.  Counts before the file is
 * mapped go to early_counts; start-up runs on one thread, so the hand-over in the constructor
 * below cannot lose a call. */
static alloc_counts early_counts;
static alloc_counts *counts = &early_counts;

/* The call stack of a traced allocation; a thread inside it allocates untraced (backtrace()
 * needs no heap once libgcc is loaded, which the constructor makes sure of). */
static _Thread_local int tracing;

static void trace_stack(void)
{
    if (tracing)
        return;
    uint32_t left = atomic_load_explicit(&counts->trace, memory_order_relaxed);
    do {
        if (left == 0)
            return;
    } while (!atomic_compare_exchange_weak(&counts->trace, &left, left - 1));
    tracing = 1;
    void *frames[24];
    int n = backtrace(frames, 24);
    static const char header[] = "alloc_count: allocation in a traced window at\n";
    (void)!write(STDERR_FILENO, header, sizeof header - 1);
    backtrace_symbols_fd(frames + 2, n - 2, STDERR_FILENO); /* without count() and trace_stack() */
    tracing = 0;
}

static void count(enum alloc_kind kind)
{
    atomic_fetch_add_explicit(&counts->calls[kind], 1, memory_order_relaxed);
    trace_stack();
}

__attribute__((constructor(101))) static void map_count_file(void)
{
    void *frame;
    backtrace(&frame, 1); /* loads libgcc's unwinder now, so tracing never allocates */
    const char *path = getenv(ALLOC_COUNT_FILE_ENV);
    int fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
    if (fd < 0)
        return;
    void *shared = mmap(NULL, sizeof(alloc_counts), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (shared == MAP_FAILED)
        return;
    alloc_counts *file_counts = shared;
    for (int kind = 0; kind < ALLOC_KINDS; kind++)
        atomic_fetch_add(&file_counts->calls[kind], atomic_load(&early_counts.calls[kind]));
    counts = file_counts;
}

void *malloc(size_t size)
{
    count(ALLOC_MALLOC);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count(ALLOC_CALLOC);
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    count(ALLOC_REALLOC);
    return __libc_realloc(ptr, size);
}

void *reallocarray(void *ptr, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, bytes);
}

/* The alignment rules of posix_memalign: a power of two and a multiple of sizeof(void *). */
static int valid_alignment(size_t alignment)
{
    return alignment % sizeof(void *) == 0 && alignment != 0 && (alignment & (alignment - 1)) == 0;
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!valid_alignment(alignment))
        return EINVAL;
    count(ALLOC_ALIGNED);
    void *ptr = __libc_memalign(alignment, size);
    if (!ptr)
        return ENOMEM;
    *out = ptr;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size)
{
    count(ALLOC_ALIGNED);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size)
{
    count(ALLOC_ALIGNED);
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size)
{
    count(ALLOC_ALIGNED);
    return __libc_valloc(size);
}

void *pvalloc(size_t size)
{
    count(ALLOC_ALIGNED);
    return __libc_pvalloc(size);
}
