/* fuzz_http_range.c - the Range header parser (http_range_parse).
 *
 * The first eight bytes are the file size (small sizes favoured, so ranges hit it), the rest
 * the header value.  Invariants: the verdict and the range equal those of a plain reference
 * written from RFC 9110 14.1.2 as http_static.h words it (a malformed value or an unknown unit
 * is NONE, one satisfiable range is ONE, several with one satisfiable are MULTIPLE, none
 * satisfiable is UNSATISFIABLE); a range given is inside the file, first <= last < size.
 */
#include <strings.h>

#include "fuzz.h"
#include "http/http_static.h"

struct ref_range {
    bool ok;          /* well formed */
    bool satisfiable;
    uint64_t first, last;
};

static bool digits(const char **p, uint64_t *v)
{
    const char *s = *p;
    *v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        *v = *v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : *v * 10 + (uint64_t)(*s - '0');
    bool any = s != *p;
    *p = s;
    return any;
}

/* One range-spec from *p (OWS around it already skipped by the caller). */
static struct ref_range reference_spec(const char **p, uint64_t size)
{
    struct ref_range r = {0};
    uint64_t a, b;
    if (**p == '-') {
        (*p)++;
        if (!digits(p, &b))
            return r;
        r.ok = true;
        r.satisfiable = b > 0 && size > 0;
        r.first = b >= size ? 0 : size - b;
        r.last = size - 1;
        return r;
    }
    if (!digits(p, &a) || **p != '-')
        return r;
    (*p)++;
    bool has_b = digits(p, &b);
    if (has_b && b < a)
        return r;
    r.ok = true;
    r.satisfiable = a < size;
    r.first = a;
    r.last = has_b && b < size ? b : size - 1;
    return r;
}

static http_range_result reference(const char *v, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (strncasecmp(v, "bytes=", 6) != 0)
        return HTTP_RANGE_NONE;
    const char *p = v + 6;
    unsigned specs = 0, good = 0;
    for (;;) {
        p += strspn(p, " \t");
        struct ref_range r = reference_spec(&p, size);
        if (!r.ok)
            return HTTP_RANGE_NONE;
        specs++;
        if (r.satisfiable && good++ == 0)
            *first = r.first, *last = r.last;
        p += strspn(p, " \t");
        if (!*p)
            break;
        if (*p++ != ',')
            return HTTP_RANGE_NONE;
    }
    return !good ? HTTP_RANGE_UNSATISFIABLE : specs == 1 ? HTTP_RANGE_ONE : HTTP_RANGE_MULTIPLE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t file_size;
    memcpy(&file_size, data, 8);
    if (data[0] & 1) /* mostly small files */
        file_size %= 1024;
    char *value = fuzz_strndup(data + 8, size - 8);
    uint64_t first = 0, last = 0, ref_first = 0, ref_last = 0;
    http_range_result got = http_range_parse(value, file_size, &first, &last);
    http_range_result want = reference(value, file_size, &ref_first, &ref_last);
    FUZZ_CHECK(got == want, "'%s' on %llu bytes: %d, the reference says %d", value,
               (unsigned long long)file_size, got, want);
    if (got == HTTP_RANGE_ONE || got == HTTP_RANGE_MULTIPLE) {
        FUZZ_CHECK(first <= last && last < file_size, "range %llu-%llu of %llu bytes",
                   (unsigned long long)first, (unsigned long long)last,
                   (unsigned long long)file_size);
        FUZZ_CHECK(first == ref_first && last == ref_last, "range %llu-%llu, reference %llu-%llu",
                   (unsigned long long)first, (unsigned long long)last,
                   (unsigned long long)ref_first, (unsigned long long)ref_last);
    }
    free(value);
    return 0;
}
