/* fuzz_ws_utf8.c - the incremental UTF-8 check against a plain reference decoder.
 *
 * Invariants: ws_utf8_valid() gives the reference's verdict (RFC 3629: shortest form, no
 * surrogates, nothing above U+10FFFF); fed in pieces, ws_utf8_feed() fails exactly at the
 * first piece that holds a byte the reference cannot continue from, and ws_utf8_complete()
 * gives the whole verdict at the end.
 */
#include "fuzz.h"
#include "ws/ws_utf8.h"

/* The length of the longest prefix of s that could still begin a valid text (the offset of
 * the first bad byte), or len when there is none; *complete: s is valid as a whole. */
static size_t reference_prefix(const uint8_t *s, size_t len, bool *complete)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        unsigned need;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            *complete = false;
            return i;
        }
        i++;
        for (unsigned k = 0; k < need; k++, i++) {
            if (i == len) {
                *complete = false;
                return len; /* cut short, not wrong */
            }
            if ((s[i] & 0xc0) != 0x80) {
                *complete = false;
                return i;
            }
            cp = cp << 6 | (s[i] & 0x3f);
            /* The first continuation byte alone decides shortest form, surrogates and range. */
            if (k == 0) {
                uint32_t top = cp << 6 * (need - 1);
                uint32_t hi = top | ((1u << 6 * (need - 1)) - 1);
                if (hi < min || (top >= 0xd800 && top <= 0xdfff) || top > 0x10ffff) {
                    *complete = false;
                    return i;
                }
            }
        }
    }
    *complete = true;
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_cut cut = fuzz_cut_from(data);
    data += 2, size -= 2;

    bool ref_valid;
    size_t bad_at = reference_prefix(data, size, &ref_valid);
    FUZZ_CHECK(ws_utf8_valid(data, size) == ref_valid, "whole verdict %d", ref_valid);

    struct ws_utf8 v;
    ws_utf8_init(&v);
    size_t at = 0;
    bool ok = true;
    while (at < size) {
        size_t n = fuzz_cut_next(&cut, size - at);
        ok = ws_utf8_feed(&v, data + at, n);
        bool holds_bad = bad_at < size && bad_at < at + n;
        FUZZ_CHECK(ok == !holds_bad, "piece %zu+%zu, first bad byte at %zu", at, n, bad_at);
        at += n;
        if (!ok)
            break;
    }
    FUZZ_CHECK(ws_utf8_complete(&v) == ref_valid, "incremental verdict %d", ref_valid);
    return 0;
}
