/* fuzz_http_conditional.c - conditional and range requests on a static file
 * (http_static_plan_for, http_static_start) and the HTTP-date parser under them.
 *
 * The first 16 bytes are the file (size, inode, mtime) and the method; the rest, cut at NUL
 * bytes, are the values of If-None-Match, If-Modified-Since, If-Range and Range (an empty
 * value is a header left out).  Invariants: the plan is 200 (the whole file), 206 (a GET, a
 * range inside the file, its Content-Range saying so), 304 (GET or HEAD, nothing to send,
 * only when the ETag is listed, "*" is, or -- without If-None-Match -- the date is valid, not
 * in the future and not before the file's mtime) or 416 (a GET with a Range, "bytes * /size");
 * an If-None-Match holding exactly our ETag always gives 304; a date that parses formats
 * back to itself; the head http_static_start() writes reads as a well-framed response.
 */
#include <inttypes.h>
#include <llhttp.h>

#include "fuzz.h"
#include "http/http_static.h"
#include "http_frames.h"

#define NOW 1700000000

static int sink_write(void *ctx, const void *data, size_t len)
{
    fuzz_buf_put(ctx, data, len);
    return 0;
}

static const http_sink_ops sink = {.write = sink_write};

static void check_date_round_trip(const char *value)
{
    int64_t t;
    if (!value || http_date_parse(value, &t) != 0)
        return;
    char text[HTTP_DATE_LEN + 1];
    http_date_format(t, text);
    int64_t again;
    FUZZ_CHECK(http_date_parse(text, &again) == 0 && again == t, "'%s' -> %" PRId64 " -> '%s'",
               value, t, text);
}

static bool may_be_not_modified(const http_request *req, const http_static_plan *plan,
                                const http_file_meta *meta)
{
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm)
        return strchr(inm, '*') || strstr(inm, plan->etag);
    const char *ims = http_request_header(req, "If-Modified-Since");
    int64_t t;
    return ims && http_date_parse(ims, &t) == 0 && t <= NOW && meta->mtime_sec <= t;
}

static void check_plan(const http_request *req, const http_file_meta *meta,
                       const http_static_plan *plan)
{
    bool get = req->method == HTTP_GET, head = req->method == HTTP_HEAD;
    const char *range = http_request_header(req, "Range");
    const char *inm = http_request_header(req, "If-None-Match");
    char expect[HTTP_CONTENT_RANGE_MAX];
    switch (plan->status) {
    case 200:
        FUZZ_CHECK(plan->offset == 0 && plan->length == meta->size, "200 of part of the file");
        break;
    case 206:
        FUZZ_CHECK(get && range && plan->length > 0 && plan->offset < meta->size &&
                       plan->length <= meta->size - plan->offset, "206 of %" PRIu64 "+%" PRIu64,
                   plan->offset, plan->length);
        snprintf(expect, sizeof(expect), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, plan->offset,
                 plan->offset + plan->length - 1, meta->size);
        FUZZ_CHECK(strcmp(expect, plan->content_range) == 0, "Content-Range '%s'",
                   plan->content_range);
        break;
    case 304:
        FUZZ_CHECK((get || head) && plan->length == 0 && may_be_not_modified(req, plan, meta),
                   "304 without a reason");
        break;
    case 416:
        snprintf(expect, sizeof(expect), "bytes */%" PRIu64, meta->size);
        FUZZ_CHECK(get && range && strcmp(expect, plan->content_range) == 0, "416 '%s'",
                   plan->content_range);
        break;
    default:
        FUZZ_CHECK(false, "status %d", plan->status);
    }
    if ((get || head) && inm && strcmp(inm, plan->etag) == 0)
        FUZZ_CHECK(plan->status == 304, "our own ETag gave %d", plan->status);
}

static void check_head(const http_request *req, const http_static_plan *plan)
{
    fuzz_buf out = {0};
    http_response res;
    http_date_cache date;
    http_date_cache_init(&date, (uint64_t)NOW * 1000000000u);
    FUZZ_CHECK(http_res_init(&res, &sink, &out, &date, NULL, NULL) == 0, "response");
    http_res_begin(&res, req);
    FUZZ_CHECK(http_static_start(&res, plan) == 0, "start");
    /* The body (a sendfile) would follow: stand for it with its bytes. */
    static const char file[4096];
    for (uint64_t left = req->method == HTTP_HEAD ? 0 : plan->length; left;) {
        size_t n = left < sizeof(file) ? (size_t)left : sizeof(file);
        fuzz_buf_put(&out, file, n);
        left -= n;
    }
    int method = req->method;
    http_frames f = http_frames_check(out.data, out.len, &method, 1);
    FUZZ_CHECK(f.finals == 1 && f.last_status == plan->status, "%zu responses, status %d",
               f.finals, f.last_status);
    http_res_fini(&res);
    fuzz_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16)
        return 0;
    http_file_meta meta = {
        .size = data[0] | (uint64_t)data[1] << 8,
        .inode = data[2] | (uint64_t)data[3] << 8,
        .mtime_sec = NOW - 1000000 + (int64_t)(data[4] | data[5] << 8 | data[6] << 16) * 4,
        .mtime_nsec = data[7],
    };
    static const int methods[] = {HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_GET};
    http_request req = {.method = methods[data[8] & 3], .version_major = 1, .version_minor = 1,
                        .keep_alive = true, .path = "/f", .query = ""};
    static const char *const names[] = {"If-None-Match", "If-Modified-Since", "If-Range", "Range"};
    char *text = fuzz_strndup(data + 16, size - 16);
    http_header headers[4];
    const char *p = text, *end = text + size - 16;
    for (size_t i = 0; i < 4 && p <= end; i++, p += strlen(p) + 1) {
        if (!*p)
            continue;
        headers[req.header_count++] = (http_header){names[i], p, (uint32_t)strlen(names[i]),
                                                    (uint32_t)strlen(p)};
    }
    req.headers = headers;
    http_static_plan plan;
    http_static_plan_for(&req, "f.html", &meta, NOW, &plan);
    check_plan(&req, &meta, &plan);
    check_head(&req, &plan);
    check_date_round_trip(http_request_header(&req, "If-Modified-Since"));
    check_date_round_trip(http_request_header(&req, "If-Range"));
    free(text);
    return 0;
}
