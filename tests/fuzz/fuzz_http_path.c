/* fuzz_http_path.c - the static path normaliser (http_path_resolve).
 *
 * The first byte sizes the output buffer (small sizes reach -ENAMETOOLONG); the rest is the
 * request path.  Invariants: an accepted path is relative, has no empty, "." or ".." segment,
 * no backslash or control byte, and walked segment by segment from a root never rises above
 * it; it equals what a plain reference (split at '/', decode each segment once, drop "" and
 * ".", refuse what http_path.h refuses) makes of the input; the reference and the normaliser
 * agree on whether the path is refused; a result that does not fit is -ENAMETOOLONG, never cut.
 */
#include <errno.h>

#include "fuzz.h"
#include "http/http_path.h"

static bool structural(int c)
{
    return c == '.' || c == '/' || c == '\\' || c == 0;
}

/* Decodes one raw segment into out; false when http_path.h says it must be refused. */
static bool reference_segment(const char *seg, size_t len, fuzz_buf *out)
{
    for (size_t i = 0; i < len; i++) {
        int c = (uint8_t)seg[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = fuzz_hex((uint8_t)seg[i + 1]), lo = hi < 0 ? -1 : fuzz_hex((uint8_t)seg[i + 2]);
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            if (structural(c))
                return false;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
        uint8_t b = (uint8_t)c;
        fuzz_buf_put(out, &b, 1);
    }
    /* Decoded once more, it must not hide a structural byte either. */
    for (size_t i = 0; i + 2 < out->len; i++) {
        int hi = fuzz_hex(out->data[i + 1]), lo = fuzz_hex(out->data[i + 2]);
        if (out->data[i] == '%' && hi >= 0 && lo >= 0 && structural(hi * 16 + lo))
            return false;
    }
    return !(out->len == 2 && out->data[0] == '.' && out->data[1] == '.');
}

/* The relative path the reference makes of path, or false when it refuses it. */
static bool reference_resolve(const char *path, fuzz_buf *out)
{
    if (path[0] != '/')
        return false;
    bool dir = true;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        fuzz_buf seg = {0};
        bool ok = reference_segment(p, len, &seg);
        p += len;
        bool dot = seg.len == 1 && seg.data[0] == '.';
        dir = dot || *p == '/';
        if (ok && !dot) {
            if (out->len)
                fuzz_buf_put(out, "/", 1);
            fuzz_buf_put(out, seg.data, seg.len);
        }
        fuzz_buf_free(&seg);
        if (!ok)
            return false;
    }
    if (dir) {
        if (out->len)
            fuzz_buf_put(out, "/", 1);
        fuzz_buf_put(out, HTTP_INDEX_FILE, strlen(HTTP_INDEX_FILE));
    }
    return true;
}

/* Walks rel from a root, as a file system would, and checks it never rises above it. */
static void check_stays_under_root(const char *rel, size_t len)
{
    FUZZ_CHECK(len > 0 && rel[0] != '/' && rel[len - 1] != '/', "'%s' is not a relative file", rel);
    int depth = 0;
    for (const char *p = rel; p < rel + len;) {
        size_t seg = strcspn(p, "/");
        FUZZ_CHECK(seg > 0, "empty segment in '%s'", rel);
        FUZZ_CHECK(!(seg == 1 && p[0] == '.'), "'.' segment in '%s'", rel);
        depth += seg == 2 && p[0] == '.' && p[1] == '.' ? -1 : 1;
        FUZZ_CHECK(depth > 0, "'%s' leaves the root", rel);
        for (size_t i = 0; i < seg; i++)
            FUZZ_CHECK((uint8_t)p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\', "byte %#x in '%s'",
                       (uint8_t)p[i], rel);
        p += seg + (p[seg] == '/');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t out_size = data[0] < 128 ? 4096 : (size_t)(data[0] - 127);
    char *path = fuzz_strndup(data + 1, size - 1);
    char *out = malloc(out_size);
    FUZZ_CHECK(out != NULL, "out of memory");
    int rc = http_path_resolve(path, out, out_size);
    fuzz_buf ref = {0};
    bool ref_ok = reference_resolve(path, &ref);
    if (rc >= 0) {
        FUZZ_CHECK((size_t)rc < out_size && strlen(out) == (size_t)rc, "length %d", rc);
        check_stays_under_root(out, (size_t)rc);
        FUZZ_CHECK(ref_ok && ref.len == (size_t)rc && memcmp(ref.data, out, ref.len) == 0,
                   "'%s' resolved to '%s', the reference says %s", path, out,
                   ref_ok ? "something else" : "refuse");
    } else {
        FUZZ_CHECK(rc == -EINVAL || rc == -EACCES || rc == -ENAMETOOLONG, "rc %d", rc);
        FUZZ_CHECK(!ref_ok || (rc == -ENAMETOOLONG && ref.len >= out_size),
                   "'%s' refused (%d), the reference gives %zu bytes", path, rc, ref.len);
    }
    fuzz_buf_free(&ref);
    free(out);
    free(path);
    return 0;
}
