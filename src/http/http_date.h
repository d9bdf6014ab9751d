/* http_date.h - HTTP-date (RFC 9110 5.6.7): formatting and parsing, in seconds since the epoch.
 *
 * Formatting writes IMF-fixdate, the only form a sender may use:
 *     Sun, 06 Nov 1994 08:49:37 GMT
 * Parsing accepts it and the two obsolete forms a recipient must still read:
 *     Sunday, 06-Nov-94 08:49:37 GMT     (RFC 850: a two-digit year, 70-99 -> 19xx, else 20xx)
 *     Sun Nov  6 08:49:37 1994           (asctime)
 * exactly, case-sensitively, as the grammar says; anything else (a wrong day-of-month for the
 * month, hour 24, trailing bytes) is -EINVAL.  A second of 60 (leap) reads as 59.
 * Both sides compute the calendar themselves: no time zone, locale or libc state involved.
 */
#ifndef IOSERVE_HTTP_DATE_H
#define IOSERVE_HTTP_DATE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_DATE_LEN 29 /* strlen("Sun, 06 Nov 1994 08:49:37 GMT") */

/* Write the IMF-fixdate of t (years 0..9999) and a NUL into out. */
void http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1]);

/* 0 with *t set, or -EINVAL. */
int http_date_parse(const char *text, int64_t *t);

#endif
