/* fuzz.h - what every harness in tests/fuzz/ shares (header-only).
 *
 * A harness is one LLVMFuzzerTestOneInput(): libFuzzer calls it in the fuzz build, and
 * fuzz_main.c feeds it the checked-in corpus in the normal build.  An invariant that fails
 * aborts (FUZZ_CHECK), which both count as a crash.  fuzz_buf collects output; fuzz_cut takes
 * the points at which a harness splits its input from the input itself, so a failing split
 * is reproduced by the same file.
 */
#ifndef IOSERVE_TESTS_FUZZ_H
#define IOSERVE_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A growable byte buffer; allocation failure aborts (a harness has nothing better to do). */
typedef struct fuzz_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} fuzz_buf;

static inline void fuzz_buf_put(fuzz_buf *b, const void *data, size_t len)
{
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len)
            cap *= 2;
        b->data = realloc(b->data, cap);
        FUZZ_CHECK(b->data != NULL, "out of memory");
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
}

static inline void fuzz_buf_free(fuzz_buf *b)
{
    free(b->data);
    *b = (fuzz_buf){0};
}

static inline bool fuzz_buf_equal(const fuzz_buf *a, const fuzz_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The lengths of the pieces an input is cut into: drawn from a seed that the harness takes
 * from its input's first bytes.  Pieces are mostly short (1-8 bytes: every state boundary gets
 * hit) and sometimes long. */
typedef struct fuzz_cut {
    uint32_t state;
} fuzz_cut;

static inline fuzz_cut fuzz_cut_from(const uint8_t seed[2])
{
    return (fuzz_cut){.state = 0x9e3779b9u ^ ((uint32_t)seed[0] << 8 | seed[1])};
}

/* The prefix every split-checking harness reads: a mode byte, then two bytes seeding where the
 * rest of the input is cut.  false when the input is too short to hold it. */
static inline bool fuzz_take_prefix(const uint8_t **data, size_t *size, uint8_t *mode, fuzz_cut *cut)
{
    if (*size < 3)
        return false;
    *mode = (*data)[0];
    *cut = fuzz_cut_from(*data + 1);
    *data += 3, *size -= 3;
    return true;
}

static inline size_t fuzz_cut_next(fuzz_cut *c, size_t left)
{
    uint32_t x = c->state; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->state = x;
    size_t n = (x & 3) ? 1 + (x >> 8) % 8 : 1 + (x >> 8) % 512;
    return n < left ? n : left;
}

/* A hex digit's value, or -1: for the harnesses' plain reference parsers. */
static inline int fuzz_hex(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* Reads a bounded copy of the input as a NUL-terminated string (parsers that take C strings). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1);
    FUZZ_CHECK(s != NULL, "out of memory");
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

#endif
