/* test_http_date.c - HTTP-date: IMF-fixdate out, the three forms in, calendar edges, and
 * everything the grammar refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "http/http_date.h"

static void test_format_known_dates(void **state)
{
    char out[HTTP_DATE_LEN + 1];
    http_date_format(784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    http_date_format(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date_format(951782400, out); /* leap day of a year divisible by 400 */
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    http_date_format(2147483647, out);
    assert_string_equal(out, "Tue, 19 Jan 2038 03:14:07 GMT");
    http_date_format(4133980799, out);
    assert_string_equal(out, "Fri, 31 Dec 2100 23:59:59 GMT");
    http_date_format(-1, out);
    assert_string_equal(out, "Wed, 31 Dec 1969 23:59:59 GMT");
}

/* The formatter agrees with libc's gmtime over many instants. */
static void test_format_matches_gmtime(void **state)
{
    char out[HTTP_DATE_LEN + 1], want[64];
    for (int64_t t = 0; t < 4102444800; t += 86400 * 37 + 3607) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        http_date_format(t, out);
        assert_string_equal(out, want);
    }
}

static int64_t parse_ok(const char *text)
{
    int64_t t = -12345;
    int rc = http_date_parse(text, &t);
    if (rc)
        fail_msg("refused: %s", text);
    return t;
}

static void test_parse_three_forms(void **state)
{
    assert_int_equal(parse_ok("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(parse_ok("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(parse_ok("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(parse_ok("Sun Nov 16 08:49:37 1994"), 784111777 + 10 * 86400);
    /* Two-digit years: 70-99 are 19xx, the rest 20xx. */
    assert_int_equal(parse_ok("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
    assert_int_equal(parse_ok("Saturday, 01-Jan-00 00:00:00 GMT"), 946684800);
    assert_int_equal(parse_ok("Tuesday, 29-Feb-00 00:00:00 GMT"), 951782400);
}

static void test_parse_round_trip(void **state)
{
    char out[HTTP_DATE_LEN + 1];
    for (int64_t t = 0; t < 4102444800; t += 86400 * 29 + 4001) {
        http_date_format(t, out);
        assert_int_equal(parse_ok(out), t);
    }
}

static void test_parse_edges(void **state)
{
    assert_int_equal(parse_ok("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228799); /* leap second */
    assert_int_equal(parse_ok("Thu, 29 Feb 2024 12:00:00 GMT"), 1709208000);
    /* The weekday is checked for spelling, not against the date (senders get it wrong). */
    assert_int_equal(parse_ok("Mon, 06 Nov 1994 08:49:37 GMT"), 784111777);
}

static void test_parse_refuses(void **state)
{
    static const char *bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 GMT",
        "1994-11-06T08:49:37Z",
        "784111777",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t;
        if (http_date_parse(bad[i], &t) != -EINVAL)
            fail_msg("accepted: \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_dates),
        cmocka_unit_test(test_format_matches_gmtime),
        cmocka_unit_test(test_parse_three_forms),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_edges),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
