/* http_date.c - IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in.  The calendar arithmetic
 * is Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC). */
#include "http/http_date.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char wkday_short[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wkday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *out, int64_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

void http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1])
{
    int64_t days = floor_div(t, 86400);
    int64_t secs = t - days * 86400;
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    int64_t wday = days + 4 - floor_div(days + 4, 7) * 7; /* 1970-01-01 was a Thursday */
    memcpy(out, "Sun, 00 Jan 0000 00:00:00 GMT", HTTP_DATE_LEN + 1);
    memcpy(out, wkday_short[wday], 3);
    put_digits(out + 5, day, 2);
    memcpy(out + 8, month_names[month - 1], 3);
    put_digits(out + 12, year, 4);
    put_digits(out + 17, secs / 3600, 2);
    put_digits(out + 20, secs / 60 % 60, 2);
    put_digits(out + 23, secs % 60, 2);
}

/* The parsers below advance *p over what they accept and return false at the first mismatch. */

static bool take(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool take_month(const char **p, int *month)
{
    for (int i = 0; i < 12; i++)
        if (take(p, month_names[i])) {
            *month = i + 1;
            return true;
        }
    return false;
}

static bool take_wkday_short(const char **p)
{
    for (int i = 0; i < 7; i++)
        if (take(p, wkday_short[i]))
            return true;
    return false;
}

static bool take_wkday_long(const char **p)
{
    for (int i = 0; i < 7; i++)
        if (take(p, wkday_long[i]))
            return true;
    return false;
}

typedef struct date_parts {
    int year, month, day, hour, minute, second;
} date_parts;

static bool take_time(const char **p, date_parts *d)
{
    return take_digits(p, 2, &d->hour) && take(p, ":") && take_digits(p, 2, &d->minute) &&
           take(p, ":") && take_digits(p, 2, &d->second);
}

static bool parse_imf_fixdate(const char *p, date_parts *d)
{
    return take_wkday_short(&p) && take(&p, ", ") && take_digits(&p, 2, &d->day) &&
           take(&p, " ") && take_month(&p, &d->month) && take(&p, " ") &&
           take_digits(&p, 4, &d->year) && take(&p, " ") && take_time(&p, d) &&
           take(&p, " GMT") && *p == '\0';
}

static bool parse_rfc850(const char *p, date_parts *d)
{
    if (!(take_wkday_long(&p) && take(&p, ", ") && take_digits(&p, 2, &d->day) &&
          take(&p, "-") && take_month(&p, &d->month) && take(&p, "-") &&
          take_digits(&p, 2, &d->year) && take(&p, " ") && take_time(&p, d) &&
          take(&p, " GMT") && *p == '\0'))
        return false;
    d->year += d->year >= 70 ? 1900 : 2000;
    return true;
}

static bool parse_asctime(const char *p, date_parts *d)
{
    if (!(take_wkday_short(&p) && take(&p, " ") && take_month(&p, &d->month) && take(&p, " ")))
        return false;
    bool day_ok = take(&p, " ") ? take_digits(&p, 1, &d->day) : take_digits(&p, 2, &d->day);
    return day_ok && take(&p, " ") && take_time(&p, d) && take(&p, " ") &&
           take_digits(&p, 4, &d->year) && *p == '\0';
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

int http_date_parse(const char *text, int64_t *t)
{
    date_parts d = {0};
    if (!parse_imf_fixdate(text, &d) && !parse_rfc850(text, &d) && !parse_asctime(text, &d))
        return -EINVAL;
    if (d.day < 1 || d.day > days_in_month(d.year, d.month) || d.hour > 23 || d.minute > 59 ||
        d.second > 60)
        return -EINVAL;
    int second = d.second == 60 ? 59 : d.second;
    *t = days_from_civil(d.year, d.month, d.day) * 86400 + d.hour * 3600 + d.minute * 60 + second;
    return 0;
}
