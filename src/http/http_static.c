/* http_static.c - validators (ETag, Last-Modified), conditional requests and byte ranges. */
#include "http/http_static.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/http_mime.h"
#include "http/http_text.h"

size_t http_etag_format(const http_file_meta *meta, char out[HTTP_ETAG_MAX])
{
    uint64_t mtime_ns = (uint64_t)meta->mtime_sec * 1000000000u + meta->mtime_nsec;
    int n = snprintf(out, HTTP_ETAG_MAX, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", meta->inode,
                     meta->size, mtime_ns);
    return (size_t)n;
}

static const char *skip_list_separators(const char *p)
{
    while (*p == ',' || http_is_ows(*p))
        p++;
    return p;
}

bool http_etag_list_matches(const char *list, const char *etag)
{
    size_t etag_len = strlen(etag);
    const char *p = skip_list_separators(list);
    if (*p == '*')
        return true;
    while (*p) {
        if (p[0] == 'W' && p[1] == '/') /* weak comparison: the W/ does not matter */
            p += 2;
        if (*p != '"')
            return false; /* malformed: match nothing rather than guess */
        const char *close = strchr(p + 1, '"');
        if (!close)
            return false;
        size_t len = (size_t)(close - p) + 1;
        if (len == etag_len && memcmp(p, etag, len) == 0)
            return true;
        p = skip_list_separators(close + 1);
    }
    return false;
}

/* Digits into *out, saturating at UINT64_MAX (a huge last-pos is still a valid range). */
static bool take_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *p = s;
    *out = v;
    return true;
}

typedef enum spec_result { SPEC_BAD, SPEC_OK, SPEC_UNSATISFIABLE } spec_result;

/* One range-spec: "a-b", "a-" or "-n". */
static spec_result parse_spec(const char **p, uint64_t size, uint64_t *first, uint64_t *last)
{
    uint64_t a, b;
    if (**p == '-') {
        (*p)++;
        if (!take_number(p, &b))
            return SPEC_BAD;
        if (b == 0 || size == 0)
            return SPEC_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return SPEC_OK;
    }
    if (!take_number(p, &a) || **p != '-')
        return SPEC_BAD;
    (*p)++;
    bool has_last = take_number(p, &b);
    if (has_last && b < a)
        return SPEC_BAD;
    if (a >= size)
        return SPEC_UNSATISFIABLE;
    *first = a;
    *last = has_last && b < size ? b : size - 1;
    return SPEC_OK;
}

http_range_result http_range_parse(const char *value, uint64_t size, uint64_t *first,
                                   uint64_t *last)
{
    if (!http_istarts(value, "bytes="))
        return HTTP_RANGE_NONE;
    const char *p = value + 6;
    unsigned specs = 0, satisfiable = 0;
    for (;;) {
        while (http_is_ows(*p))
            p++;
        uint64_t a = 0, b = 0;
        spec_result r = parse_spec(&p, size, &a, &b);
        if (r == SPEC_BAD)
            return HTTP_RANGE_NONE;
        specs++;
        if (r == SPEC_OK && satisfiable++ == 0) {
            *first = a;
            *last = b;
        }
        while (http_is_ows(*p))
            p++;
        if (*p == '\0')
            break;
        if (*p++ != ',')
            return HTTP_RANGE_NONE;
    }
    if (!satisfiable)
        return HTTP_RANGE_UNSATISFIABLE;
    return specs == 1 ? HTTP_RANGE_ONE : HTTP_RANGE_MULTIPLE;
}

/* If-Range holds an ETag (compared strongly) or a date (compared exactly). */
static bool if_range_matches(const char *value, const http_static_plan *plan,
                             const http_file_meta *meta)
{
    if (value[0] == '"')
        return strcmp(value, plan->etag) == 0;
    int64_t t;
    return http_date_parse(value, &t) == 0 && t == meta->mtime_sec;
}

static bool not_modified(const http_request *req, const http_static_plan *plan,
                         const http_file_meta *meta, int64_t now)
{
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm)
        return http_etag_list_matches(inm, plan->etag);
    const char *ims = http_request_header(req, "If-Modified-Since");
    int64_t t;
    return ims && http_date_parse(ims, &t) == 0 && t <= now && meta->mtime_sec <= t;
}

static void plan_range(const http_request *req, const http_file_meta *meta,
                       http_static_plan *plan)
{
    const char *range = http_request_header(req, "Range");
    const char *if_range = http_request_header(req, "If-Range");
    if (!range || req->method != HTTP_GET || (if_range && !if_range_matches(if_range, plan, meta)))
        return;
    uint64_t first, last;
    switch (http_range_parse(range, meta->size, &first, &last)) {
    case HTTP_RANGE_ONE:
        plan->status = 206;
        plan->offset = first;
        plan->length = last - first + 1;
        snprintf(plan->content_range, sizeof(plan->content_range),
                 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, meta->size);
        break;
    case HTTP_RANGE_UNSATISFIABLE:
        plan->status = 416;
        plan->length = 0;
        snprintf(plan->content_range, sizeof(plan->content_range), "bytes */%" PRIu64,
                 meta->size);
        break;
    case HTTP_RANGE_NONE:
    case HTTP_RANGE_MULTIPLE:
        break;
    }
}

void http_static_plan_for(const http_request *req, const char *rel_path,
                          const http_file_meta *meta, int64_t now, http_static_plan *plan)
{
    plan->status = 200;
    plan->offset = 0;
    plan->length = meta->size;
    plan->content_type = http_mime_type(rel_path);
    plan->content_range[0] = '\0';
    http_etag_format(meta, plan->etag);
    http_date_format(meta->mtime_sec, plan->last_modified);
    bool safe = req->method == HTTP_GET || req->method == HTTP_HEAD;
    if (safe && not_modified(req, plan, meta, now)) {
        plan->status = 304;
        plan->length = 0;
        return;
    }
    plan_range(req, meta, plan);
}

int http_static_start(http_response *res, const http_static_plan *plan)
{
    int rc = http_res_header(res, "ETag", plan->etag);
    if (!rc)
        rc = http_res_header(res, "Last-Modified", plan->last_modified);
    if (!rc && plan->status != 304)
        rc = http_res_header(res, "Accept-Ranges", "bytes");
    if (!rc && plan->content_range[0])
        rc = http_res_header(res, "Content-Range", plan->content_range);
    if (rc)
        return rc;
    switch (plan->status) {
    case 304:
        return http_res_send(res, 304, NULL, NULL, 0);
    case 416:
        return http_res_error(res, 416);
    default:
        rc = http_res_start(res, plan->status, plan->content_type, (int64_t)plan->length);
        return rc || plan->length ? rc : http_res_end(res);
    }
}
