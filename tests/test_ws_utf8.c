/* test_ws_utf8.c - the incremental UTF-8 validator: Autobahn group 6 (Markus Kuhn's UTF-8
 * stress cases), exhaustive agreement with a plain decoder, fail-fast, and fragment splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_utf8.h"

struct vector {
    bool valid;
    const char *bytes;
    size_t len;  /* 0: strlen(bytes) */
};

#define V(ok, s) {ok, s, sizeof(s) - 1}

/* Written from the categories of Autobahn's case 6.x (UTF-8-test.txt sections 1-5). */
static const struct vector group6[] = {
    /* 6.1-6.2: valid texts */
    V(true, "hello$world"),
    V(true, "hello\xC2\xA2" "world"),
    V(true, "hello\xE2\x82\xAC" "world"),
    V(true, "hello\xF0\xA4\xAD\xA2" "world"),
    V(true, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"),
    V(true, ""),
    /* 2.1 first possible sequence of each length */
    {true, "\x00", 1},
    V(true, "\xC2\x80"),
    V(true, "\xE0\xA0\x80"),
    V(true, "\xF0\x90\x80\x80"),
    V(false, "\xF8\x88\x80\x80\x80"),
    V(false, "\xFC\x84\x80\x80\x80\x80"),
    /* 2.2 last possible sequence of each length */
    V(true, "\x7F"),
    V(true, "\xDF\xBF"),
    V(true, "\xEF\xBF\xBF"),
    V(true, "\xF4\x8F\xBF\xBF"),
    V(false, "\xF7\xBF\xBF\xBF"),
    V(false, "\xFB\xBF\xBF\xBF\xBF"),
    V(false, "\xFD\xBF\xBF\xBF\xBF\xBF"),
    /* 2.3 other boundaries */
    V(true, "\xED\x9F\xBF"),
    V(true, "\xEE\x80\x80"),
    V(true, "\xEF\xBF\xBD"),
    V(false, "\xF4\x90\x80\x80"),
    /* 3.1 unexpected continuation bytes */
    V(false, "\x80"),
    V(false, "\xBF"),
    V(false, "\x80\xBF"),
    V(false, "\x80\xBF\x80"),
    V(false, "\x80\xBF\x80\xBF"),
    V(false, "\x80\xBF\x80\xBF\x80"),
    V(false, "\x80\xBF\x80\xBF\x80\xBF"),
    /* 3.3 last continuation byte missing */
    V(false, "\xC0"),
    V(false, "\xE0\x80"),
    V(false, "\xF0\x80\x80"),
    V(false, "\xF8\x80\x80\x80"),
    V(false, "\xFC\x80\x80\x80\x80"),
    V(false, "\xDF"),
    V(false, "\xEF\xBF"),
    V(false, "\xF7\xBF\xBF"),
    V(false, "\xFB\xBF\xBF\xBF"),
    V(false, "\xFD\xBF\xBF\xBF\xBF"),
    /* 3.4 their concatenation */
    V(false, "\xC0\xE0\x80\xF0\x80\x80\xF8\x80\x80\x80\xFC\x80\x80\x80\x80"
             "\xDF\xEF\xBF\xF7\xBF\xBF\xFB\xBF\xBF\xBF\xFD\xBF\xBF\xBF\xBF"),
    /* 3.5 impossible bytes */
    V(false, "\xFE"),
    V(false, "\xFF"),
    V(false, "\xFE\xFE\xFF\xFF"),
    /* 4.1 overlong ASCII */
    V(false, "\xC0\xAF"),
    V(false, "\xE0\x80\xAF"),
    V(false, "\xF0\x80\x80\xAF"),
    V(false, "\xF8\x80\x80\x80\xAF"),
    V(false, "\xFC\x80\x80\x80\x80\xAF"),
    /* 4.2 maximum overlongs */
    V(false, "\xC1\xBF"),
    V(false, "\xE0\x9F\xBF"),
    V(false, "\xF0\x8F\xBF\xBF"),
    V(false, "\xF8\x87\xBF\xBF\xBF"),
    V(false, "\xFC\x83\xBF\xBF\xBF\xBF"),
    /* 4.3 overlong NUL */
    V(false, "\xC0\x80"),
    V(false, "\xE0\x80\x80"),
    V(false, "\xF0\x80\x80\x80"),
    V(false, "\xF8\x80\x80\x80\x80"),
    V(false, "\xFC\x80\x80\x80\x80\x80"),
    /* 5.1 single surrogates */
    V(false, "\xED\xA0\x80"),
    V(false, "\xED\xAD\xBF"),
    V(false, "\xED\xAE\x80"),
    V(false, "\xED\xAF\xBF"),
    V(false, "\xED\xB0\x80"),
    V(false, "\xED\xBE\x80"),
    V(false, "\xED\xBF\xBF"),
    /* 5.2 paired surrogates */
    V(false, "\xED\xA0\x80\xED\xB0\x80"),
    V(false, "\xED\xA0\x80\xED\xBF\xBF"),
    V(false, "\xED\xAD\xBF\xED\xB0\x80"),
    V(false, "\xED\xAD\xBF\xED\xBF\xBF"),
    V(false, "\xED\xAE\x80\xED\xB0\x80"),
    V(false, "\xED\xAE\x80\xED\xBF\xBF"),
    V(false, "\xED\xAF\xBF\xED\xB0\x80"),
    V(false, "\xED\xAF\xBF\xED\xBF\xBF"),
    /* 5.3 noncharacters and specials are valid UTF-8 */
    V(true, "\xEF\xBF\xBE"),
    V(true, "\xEF\xBF\xBF"),
    V(true, "\xF0\x9F\xBF\xBE"),
    V(true, "\xF3\xBF\xBF\xBF"),
    V(true, "\xF4\x8F\xBF\xBE"),
    V(true, "\xEF\xBF\xB9"),
    V(true, "\xEF\xBF\xBD"),
};

static bool validate_split(const uint8_t *s, size_t len, size_t piece)
{
    struct ws_utf8 v;
    ws_utf8_init(&v);
    for (size_t at = 0; at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        if (!ws_utf8_feed(&v, s + at, n))
            return false;
    }
    return ws_utf8_complete(&v);
}

static void test_autobahn_group6(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof group6 / sizeof group6[0]; i++) {
        const struct vector *t = &group6[i];
        const uint8_t *s = (const uint8_t *)t->bytes;
        for (size_t piece = 1; piece <= t->len + 1; piece++) {
            if (validate_split(s, t->len, piece) != t->valid)
                fail_msg("vector %zu split every %zu bytes: expected %s", i, piece,
                         t->valid ? "valid" : "invalid");
        }
        assert_int_equal(ws_utf8_valid(s, t->len), t->valid);
    }
}

/* 3.1 and 3.2 of UTF-8-test.txt, built rather than listed: every continuation byte alone, and
 * every lead byte followed by a space. */
static void test_lonely_bytes(void **state)
{
    (void)state;
    uint8_t run[64];
    for (unsigned b = 0x80; b <= 0xBF; b++) {
        run[b - 0x80] = (uint8_t)b;
        uint8_t one = (uint8_t)b;
        assert_false(ws_utf8_valid(&one, 1));
    }
    assert_false(ws_utf8_valid(run, sizeof run));
    for (unsigned b = 0xC0; b <= 0xFF; b++) {
        uint8_t pair[2] = {(uint8_t)b, ' '};
        assert_false(ws_utf8_valid(pair, 2));
    }
}

/* A straightforward decoder to check the DFA against. */
static bool reference_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t more;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            more = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            more = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            more = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= more; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        uint32_t min = more == 1 ? 0x80 : more == 2 ? 0x800 : 0x10000;
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

static size_t encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Every code point encodes to valid UTF-8 except the surrogates; beyond U+10FFFF nothing is. */
static void test_every_code_point(void **state)
{
    (void)state;
    uint8_t buf[4];
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        size_t n = encode(cp, buf);
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        if (ws_utf8_valid(buf, n) == surrogate)
            fail_msg("U+%04X judged %s", (unsigned)cp, surrogate ? "valid" : "invalid");
    }
    for (uint32_t cp = 0x110000; cp < 0x200000; cp += 0x1001) {
        size_t n = encode(cp, buf);
        assert_false(ws_utf8_valid(buf, n));
    }
}

/* Every string of 1, 2 and 3 bytes: the DFA and the decoder agree. */
static void test_exhaustive_short_strings(void **state)
{
    (void)state;
    uint8_t s[3];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(ws_utf8_valid(s, 1), reference_valid(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            assert_int_equal(ws_utf8_valid(s, 2), reference_valid(s, 2));
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (ws_utf8_valid(s, 3) != reference_valid(s, 3))
                    fail_msg("%02x %02x %02x disagree", a, b, c);
            }
        }
    }
}

/* Whether the 2 bytes at s can start a valid text: try every tail of up to 3 continuation
 * bytes, one per class edge (the DFA cannot tell other continuation bytes apart). */
static bool extendable(uint8_t *s)
{
    static const uint8_t cont[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
    const size_t n = sizeof cont;
    if (reference_valid(s, 2))
        return true;
    for (size_t i = 0; i < n; i++) {
        s[2] = cont[i];
        if (reference_valid(s, 3))
            return true;
        for (size_t j = 0; j < n; j++) {
            s[3] = cont[j];
            if (reference_valid(s, 4))
                return true;
            for (size_t k = 0; k < n; k++) {
                s[4] = cont[k];
                if (reference_valid(s, 5))
                    return true;
            }
        }
    }
    return false;
}

/* Fail fast: a 2-byte prefix is refused exactly when no continuation could make it valid, so
 * a bad message fails at its first bad byte, not at its end. */
static void test_fails_at_first_impossible_byte(void **state)
{
    (void)state;
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            uint8_t s[5] = {(uint8_t)a, (uint8_t)b, 0, 0, 0};
            bool can_continue = extendable(s);
            struct ws_utf8 v;
            ws_utf8_init(&v);
            if (ws_utf8_feed(&v, s, 2) != can_continue)
                fail_msg("prefix %02x %02x: the validator %s it", a, b,
                         can_continue ? "refused" : "accepted");
        }
    }
}

/* The Autobahn incremental cases: state carries across pieces, failure is sticky. */
static void test_incremental_state(void **state)
{
    (void)state;
    struct ws_utf8 v;

    ws_utf8_init(&v);
    assert_true(ws_utf8_feed(&v, (const uint8_t *)"edited", 6));
    assert_true(ws_utf8_complete(&v));
    assert_false(ws_utf8_feed(&v, (const uint8_t *)"\xED\xA0\x80", 3));

    ws_utf8_init(&v);
    assert_true(ws_utf8_feed(&v, (const uint8_t *)"edited\xED", 7));
    assert_false(ws_utf8_complete(&v));
    assert_false(ws_utf8_feed(&v, (const uint8_t *)"\xA0", 1));
    assert_false(ws_utf8_feed(&v, (const uint8_t *)"a", 1)); /* sticky */
    assert_false(ws_utf8_complete(&v));

    /* a 4-byte character split in every possible place */
    const uint8_t smile[] = {'x', 0xF0, 0x9F, 0x98, 0x80, 'y'};
    for (size_t cut1 = 0; cut1 <= sizeof smile; cut1++) {
        for (size_t cut2 = cut1; cut2 <= sizeof smile; cut2++) {
            ws_utf8_init(&v);
            assert_true(ws_utf8_feed(&v, smile, cut1));
            assert_true(ws_utf8_feed(&v, smile + cut1, cut2 - cut1));
            assert_true(ws_utf8_feed(&v, smile + cut2, sizeof smile - cut2));
            assert_true(ws_utf8_complete(&v));
        }
    }

    ws_utf8_init(&v);
    assert_false(ws_utf8_feed(&v, (const uint8_t *)"\xF5", 1));
}

/* The word-at-a-time ASCII skip must not hide a bad byte at any offset or alignment. */
static void test_ascii_fast_path(void **state)
{
    (void)state;
    uint8_t buf[80];
    for (size_t start = 0; start < 8; start++) {
        for (size_t len = 0; len + start <= 64; len++) {
            memset(buf, 'a', sizeof buf);
            assert_true(ws_utf8_valid(buf + start, len));
            for (size_t bad = 0; bad < len; bad++) {
                buf[start + bad] = 0xFF;
                assert_false(ws_utf8_valid(buf + start, len));
                buf[start + bad] = 0xC3; /* a lead byte with its tail missing */
                if (bad == len - 1)
                    assert_false(ws_utf8_valid(buf + start, len));
                buf[start + bad] = 'a';
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autobahn_group6),
        cmocka_unit_test(test_lonely_bytes),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_exhaustive_short_strings),
        cmocka_unit_test(test_fails_at_first_impossible_byte),
        cmocka_unit_test(test_incremental_state),
        cmocka_unit_test(test_ascii_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
