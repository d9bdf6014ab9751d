/* test_ws_handshake.c - the opening handshake: RFC 6455's accept example, each validation
 * rule and the status it maps to, and permessage-deflate negotiation per RFC 7692 7.1. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ws/ws_handshake.h"

/* RFC 6455 section 1.3's example key and the accept value the RFC gives for it. */
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#define MAX_HEADERS 12

/* A request under construction: the RFC 6455 section 1.3 example by default. */
struct request {
    const char *method;
    size_t count;
    struct ws_http_header h[MAX_HEADERS];
};

static void add(struct request *r, const char *name, const char *value)
{
    assert_true(r->count < MAX_HEADERS);
    r->h[r->count++] = (struct ws_http_header){name, strlen(name), value, strlen(value)};
}

/* Removes every header called name (exact spelling). */
static void drop(struct request *r, const char *name)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->h[i].name, name) != 0)
            r->h[kept++] = r->h[i];
    r->count = kept;
}

static void set(struct request *r, const char *name, const char *value)
{
    drop(r, name);
    add(r, name, value);
}

static struct request rfc_request(void)
{
    struct request r = {.method = "GET"};
    add(&r, "Host", "server.example.com");
    add(&r, "Upgrade", "websocket");
    add(&r, "Connection", "Upgrade");
    add(&r, "Sec-WebSocket-Key", RFC_KEY);
    add(&r, "Origin", "http://example.com");
    add(&r, "Sec-WebSocket-Version", "13");
    return r;
}

/* The server's largest window in these tests, unless one says otherwise: 15, so that every
 * offer is answered as made. */
static unsigned window_bits_max = 15;

static enum ws_handshake_result check(const struct request *r, struct ws_handshake *hs)
{
    return ws_handshake_check(r->method, strlen(r->method), r->h, r->count, window_bits_max, hs);
}

static enum ws_handshake_result check_one(const char *name, const char *value)
{
    struct request r = rfc_request();
    struct ws_handshake hs;
    set(&r, name, value);
    return check(&r, &hs);
}

static void test_rfc_accept_key(void **state)
{
    (void)state;
    char accept[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_compute(RFC_KEY, strlen(RFC_KEY), accept), 0);
    assert_string_equal(accept, RFC_ACCEPT);
    char long_key[65 + 1];
    memset(long_key, 'A', 65);
    long_key[65] = 0;
    assert_int_equal(ws_accept_compute(long_key, 65, accept), -EINVAL);
}

static void test_rfc_request_accepted(void **state)
{
    (void)state;
    struct request r = rfc_request();
    struct ws_handshake hs;
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_OK);
    assert_string_equal(hs.accept, RFC_ACCEPT);
    assert_false(hs.extensions.deflate.enabled);
    assert_int_equal(hs.extensions.response_len, 0);

    char buf[WS_HANDSHAKE_RESPONSE_MAX];
    int n = ws_handshake_response(&hs, buf, sizeof buf);
    const char *expect = "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                         "\r\n";
    assert_int_equal(n, strlen(expect));
    assert_string_equal(buf, expect);
    assert_int_equal(ws_handshake_response(&hs, buf, (size_t)n), -ENOSPC);
    assert_int_equal(ws_handshake_status(WS_HANDSHAKE_OK), 101);
}

static void test_method_must_be_get(void **state)
{
    (void)state;
    static const char *const methods[] = {"POST", "get", "HEAD", "GETS", ""};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct request r = rfc_request();
        struct ws_handshake hs;
        r.method = methods[i];
        assert_int_equal(check(&r, &hs), WS_HANDSHAKE_NOT_GET);
    }
    assert_int_equal(ws_handshake_status(WS_HANDSHAKE_NOT_GET), 400);
}

static void test_upgrade_header(void **state)
{
    (void)state;
    assert_int_equal(check_one("Upgrade", "WebSocket"), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Upgrade", " websocket "), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Upgrade", "h2c, websocket"), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Upgrade", "h2c"), WS_HANDSHAKE_NO_UPGRADE);
    assert_int_equal(check_one("Upgrade", "websockets"), WS_HANDSHAKE_NO_UPGRADE);
    assert_int_equal(check_one("Upgrade", ""), WS_HANDSHAKE_NO_UPGRADE);
    struct request r = rfc_request();
    struct ws_handshake hs;
    drop(&r, "Upgrade");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_NO_UPGRADE);
    assert_int_equal(ws_handshake_status(WS_HANDSHAKE_NO_UPGRADE), 400);
}

static void test_connection_header(void **state)
{
    (void)state;
    assert_int_equal(check_one("Connection", "upgrade"), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Connection", "keep-alive, Upgrade"), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Connection", "keep-alive,UPGRADE ,close"), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Connection", "keep-alive"), WS_HANDSHAKE_NO_CONNECTION);
    assert_int_equal(check_one("Connection", "upgrades"), WS_HANDSHAKE_NO_CONNECTION);
    assert_int_equal(check_one("Connection", "keep-alive upgrade"), WS_HANDSHAKE_NO_CONNECTION);
    /* the token may be in any of several Connection lines */
    struct request r = rfc_request();
    struct ws_handshake hs;
    set(&r, "Connection", "keep-alive");
    add(&r, "connection", "Upgrade");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_OK);
    drop(&r, "Connection");
    drop(&r, "connection");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_NO_CONNECTION);
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(check_one("Sec-WebSocket-Version", " 13\t"), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Sec-WebSocket-Version", "8"), WS_HANDSHAKE_BAD_VERSION);
    assert_int_equal(check_one("Sec-WebSocket-Version", "13, 8"), WS_HANDSHAKE_BAD_VERSION);
    assert_int_equal(check_one("Sec-WebSocket-Version", "130"), WS_HANDSHAKE_BAD_VERSION);
    assert_int_equal(check_one("Sec-WebSocket-Version", ""), WS_HANDSHAKE_BAD_VERSION);
    struct request r = rfc_request();
    struct ws_handshake hs;
    add(&r, "Sec-WebSocket-Version", "13");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_BAD_VERSION); /* repeated */
    drop(&r, "Sec-WebSocket-Version");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_BAD_VERSION); /* missing */

    assert_int_equal(ws_handshake_status(WS_HANDSHAKE_BAD_VERSION), 426);
    assert_string_equal(ws_handshake_refusal_headers(WS_HANDSHAKE_BAD_VERSION),
                        "Sec-WebSocket-Version: 13\r\n");
    assert_string_equal(ws_handshake_refusal_headers(WS_HANDSHAKE_BAD_KEY), "");
}

static void test_key(void **state)
{
    (void)state;
    assert_int_equal(check_one("Sec-WebSocket-Key", " " RFC_KEY " "), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="), WS_HANDSHAKE_OK);
    assert_int_equal(check_one("Sec-WebSocket-Key", "/+/+/+/+/+/+/+/+/+/+/w=="), WS_HANDSHAKE_OK);
    static const char *const bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",       /* 23 characters */
        "dGhlIHNhbXBsZSBub25jZQ===",     /* 25 */
        "dGhlIHNhbXBsZSBub25jZQ",        /* unpadded */
        "dGhlIHNhbXBsZSBub25jZR==",      /* the last digit carries bits past 16 bytes */
        "dGhlIHNhbXBsZSBub25j!Q==",      /* not base64 */
        "dGhlIHNhbXBsZSBub25jZQ=A",      /* padding in the wrong place */
        "dGhlIHNhbXBsZSBub25jZXg=",      /* 17 bytes */
        "dGhlIHNhbXBsZSBub25j",          /* 15 bytes */
        "dGhlIHNh bXBsZSBub25jZQ==",     /* a space inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check_one("Sec-WebSocket-Key", bad[i]) != WS_HANDSHAKE_BAD_KEY)
            fail_msg("key \"%s\" accepted", bad[i]);
    struct request r = rfc_request();
    struct ws_handshake hs;
    add(&r, "Sec-WebSocket-Key", RFC_KEY);
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_BAD_KEY); /* repeated */
    drop(&r, "Sec-WebSocket-Key");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_BAD_KEY); /* missing */
    assert_int_equal(ws_handshake_status(WS_HANDSHAKE_BAD_KEY), 400);
}

static void test_header_names_case_insensitive(void **state)
{
    (void)state;
    struct request r = {.method = "GET"};
    struct ws_handshake hs;
    add(&r, "UPGRADE", "websocket");
    add(&r, "connection", "upgrade");
    add(&r, "sec-websocket-key", RFC_KEY);
    add(&r, "SEC-WEBSOCKET-VERSION", "13");
    add(&r, "sec-websocket-extensions", "permessage-deflate");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_OK);
    assert_string_equal(hs.accept, RFC_ACCEPT);
    assert_true(hs.extensions.deflate.enabled);
}

static void test_every_refusal_has_a_reason(void **state)
{
    (void)state;
    for (int r = WS_HANDSHAKE_OK; r <= WS_HANDSHAKE_CRYPTO_FAILED; r++) {
        const char *reason = ws_handshake_reason((enum ws_handshake_result)r);
        assert_non_null(reason);
        assert_true(strlen(reason) > 0);
        int status = ws_handshake_status((enum ws_handshake_result)r);
        assert_true(status == 101 || status == 400 || status == 426 || status == 500);
    }
}

/* ---- permessage-deflate negotiation ---- */

/* Negotiates with one Sec-WebSocket-Extensions value; returns the result. */
static enum ws_handshake_result negotiate(const char *offer, struct ws_handshake *hs)
{
    struct request r = rfc_request();
    add(&r, "Sec-WebSocket-Extensions", offer);
    return check(&r, hs);
}

static void expect_response(const char *offer, const char *response)
{
    struct ws_handshake hs;
    assert_int_equal(negotiate(offer, &hs), WS_HANDSHAKE_OK);
    if (strcmp(hs.extensions.response, response) != 0)
        fail_msg("offer \"%s\": response \"%s\", expected \"%s\"", offer,
                 hs.extensions.response, response);
    assert_int_equal(hs.extensions.response_len, strlen(response));
    assert_int_equal(hs.extensions.deflate.enabled, response[0] != 0);
}

static void test_deflate_accepted(void **state)
{
    (void)state;
    struct ws_handshake hs;
    assert_int_equal(negotiate("permessage-deflate", &hs), WS_HANDSHAKE_OK);
    const struct ws_deflate_params *d = &hs.extensions.deflate;
    assert_true(d->enabled);
    assert_false(d->server_no_context_takeover);
    assert_false(d->client_no_context_takeover);
    assert_int_equal(d->server_max_window_bits, 15);
    assert_int_equal(d->client_max_window_bits, 15);
    assert_string_equal(hs.extensions.response, "permessage-deflate");

    /* what browsers send: client_max_window_bits without a value needs no answer */
    assert_int_equal(negotiate("permessage-deflate; client_max_window_bits", &hs),
                     WS_HANDSHAKE_OK);
    assert_string_equal(hs.extensions.response, "permessage-deflate");
    assert_int_equal(hs.extensions.deflate.client_max_window_bits, 15);

    assert_int_equal(negotiate("permessage-deflate; server_no_context_takeover; "
                               "client_no_context_takeover; server_max_window_bits=8; "
                               "client_max_window_bits=10", &hs), WS_HANDSHAKE_OK);
    d = &hs.extensions.deflate;
    assert_true(d->server_no_context_takeover);
    assert_true(d->client_no_context_takeover);
    assert_int_equal(d->server_max_window_bits, 8);
    assert_int_equal(d->client_max_window_bits, 10);
    assert_string_equal(hs.extensions.response,
                        "permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover; server_max_window_bits=8; "
                        "client_max_window_bits=10");

    expect_response("permessage-deflate;client_max_window_bits=\"12\"",
                    "permessage-deflate; client_max_window_bits=12");
    expect_response("permessage-deflate ; server_max_window_bits = 15",
                    "permessage-deflate; server_max_window_bits=15");
    expect_response("PerMessage-Deflate; Server_No_Context_Takeover",
                    "permessage-deflate; server_no_context_takeover");
    expect_response("permessage-deflate; server_max_window_bits=\"1\\5\"",
                    "permessage-deflate; server_max_window_bits=15");
}

/* RFC 7692 7.1.2: a server with a 12-bit largest window compresses with no more than that,
 * and asks for no more from a client that lets it choose; a client that does not keeps 15. */
static void test_deflate_window_held_to_the_servers(void **state)
{
    (void)state;
    struct ws_handshake hs;
    window_bits_max = 12;
    /* not offered: the server compresses with 12 bits unannounced, inflates with 15 */
    assert_int_equal(negotiate("permessage-deflate", &hs), WS_HANDSHAKE_OK);
    assert_string_equal(hs.extensions.response, "permessage-deflate");
    assert_int_equal(hs.extensions.deflate.server_max_window_bits, 12);
    assert_int_equal(hs.extensions.deflate.client_max_window_bits, 15);
    /* client_max_window_bits without a value: the server picks 12 */
    assert_int_equal(negotiate("permessage-deflate; client_max_window_bits", &hs), WS_HANDSHAKE_OK);
    assert_string_equal(hs.extensions.response, "permessage-deflate; client_max_window_bits=12");
    assert_int_equal(hs.extensions.deflate.client_max_window_bits, 12);
    /* values above 12 come down to it; values below stay */
    expect_response("permessage-deflate; client_max_window_bits=15",
                    "permessage-deflate; client_max_window_bits=12");
    expect_response("permessage-deflate; client_max_window_bits=10",
                    "permessage-deflate; client_max_window_bits=10");
    expect_response("permessage-deflate; server_max_window_bits=14",
                    "permessage-deflate; server_max_window_bits=12");
    expect_response("permessage-deflate; server_max_window_bits=9; client_max_window_bits",
                    "permessage-deflate; server_max_window_bits=9; client_max_window_bits=12");
    assert_int_equal(negotiate("permessage-deflate; server_max_window_bits=9", &hs),
                     WS_HANDSHAKE_OK);
    assert_int_equal(hs.extensions.deflate.server_max_window_bits, 9);
    window_bits_max = 15;
}

/* RFC 7692 7.1: an offer with a bad parameter is declined; the handshake still succeeds. */
static void test_deflate_offers_declined(void **state)
{
    (void)state;
    static const char *const declined[] = {
        "permessage-deflate; server_max_window_bits",          /* value required */
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",       /* leading zero */
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=99999999999999999999",
        "permessage-deflate; server_no_context_takeover=1",    /* takes no value */
        "permessage-deflate; client_no_context_takeover=\"x\"",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; mystery",                         /* unknown parameter */
        "x-webkit-deflate-frame",                              /* another extension */
        "deflate-frame; server_max_window_bits=10",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++)
        expect_response(declined[i], "");
}

static void test_deflate_first_acceptable_offer_wins(void **state)
{
    (void)state;
    expect_response("permessage-deflate; server_max_window_bits=7, "
                    "permessage-deflate; client_max_window_bits=9",
                    "permessage-deflate; client_max_window_bits=9");
    expect_response("permessage-deflate; server_no_context_takeover, permessage-deflate",
                    "permessage-deflate; server_no_context_takeover");
    expect_response("x-foo; a=1; b=\"two\", permessage-deflate; client_max_window_bits, bar",
                    "permessage-deflate");
    expect_response(", ,permessage-deflate,", "permessage-deflate");
    expect_response("", "");

    /* offers may span several header lines, read in order */
    struct request r = rfc_request();
    struct ws_handshake hs;
    add(&r, "Sec-WebSocket-Extensions", "permessage-deflate; bogus");
    add(&r, "Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=11");
    add(&r, "Sec-WebSocket-Extensions", "permessage-deflate");
    assert_int_equal(check(&r, &hs), WS_HANDSHAKE_OK);
    assert_string_equal(hs.extensions.response,
                        "permessage-deflate; server_max_window_bits=11");
    assert_int_equal(hs.extensions.deflate.server_max_window_bits, 11);
}

static void test_extensions_syntax_errors(void **state)
{
    (void)state;
    static const char *const malformed[] = {
        "permessage-deflate;",
        "permessage-deflate; ;",
        "permessage-deflate; =10",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate server_no_context_takeover",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"10\\",
        "permessage-deflate; a=b=c",
        ";permessage-deflate",
        "permessage-deflate; x=\"a\"b",
        "perm{essage",
        "permessage-deflate; client_max_window_bits=@",
        "permessage-deflate; server_max_window_bits=\"\"",  /* "" is not a token */
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        struct ws_handshake hs;
        if (negotiate(malformed[i], &hs) != WS_HANDSHAKE_BAD_EXTENSIONS)
            fail_msg("\"%s\" was taken as valid syntax", malformed[i]);
    }
    assert_int_equal(ws_handshake_status(WS_HANDSHAKE_BAD_EXTENSIONS), 400);

    /* with deflate off the header is not read at all */
    struct request r = rfc_request();
    struct ws_handshake hs;
    add(&r, "Sec-WebSocket-Extensions", "permessage-deflate;");
    assert_int_equal(ws_handshake_check("GET", 3, r.h, r.count, 0, &hs), WS_HANDSHAKE_OK);
    assert_false(hs.extensions.deflate.enabled);
    assert_int_equal(hs.extensions.response_len, 0);
}

static void test_response_with_extensions_fits(void **state)
{
    (void)state;
    struct ws_handshake hs;
    assert_int_equal(negotiate("permessage-deflate; server_no_context_takeover; "
                               "client_no_context_takeover; server_max_window_bits=15; "
                               "client_max_window_bits=15", &hs), WS_HANDSHAKE_OK);
    assert_int_equal(hs.extensions.response_len, 128);
    char buf[WS_HANDSHAKE_RESPONSE_MAX];
    int n = ws_handshake_response(&hs, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
    assert_non_null(strstr(buf, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                "server_no_context_takeover; client_no_context_takeover; "
                                "server_max_window_bits=15; client_max_window_bits=15\r\n\r\n"));
    assert_non_null(strstr(buf, "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_accept_key),
        cmocka_unit_test(test_rfc_request_accepted),
        cmocka_unit_test(test_method_must_be_get),
        cmocka_unit_test(test_upgrade_header),
        cmocka_unit_test(test_connection_header),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_header_names_case_insensitive),
        cmocka_unit_test(test_every_refusal_has_a_reason),
        cmocka_unit_test(test_deflate_accepted),
        cmocka_unit_test(test_deflate_window_held_to_the_servers),
        cmocka_unit_test(test_deflate_offers_declined),
        cmocka_unit_test(test_deflate_first_acceptable_offer_wins),
        cmocka_unit_test(test_extensions_syntax_errors),
        cmocka_unit_test(test_response_with_extensions_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
