/* http_status.c - one list of codes and phrases, expanded into both lookups. */
#include "http/http_status.h"

#define HTTP_STATUSES(X)                                                                      \
    X(100, "Continue") X(101, "Switching Protocols") X(200, "OK") X(201, "Created")           \
    X(202, "Accepted") X(204, "No Content") X(206, "Partial Content")                         \
    X(301, "Moved Permanently") X(302, "Found") X(303, "See Other") X(304, "Not Modified")    \
    X(307, "Temporary Redirect") X(308, "Permanent Redirect") X(400, "Bad Request")           \
    X(401, "Unauthorized") X(403, "Forbidden") X(404, "Not Found")                            \
    X(405, "Method Not Allowed") X(406, "Not Acceptable") X(408, "Request Timeout")           \
    X(409, "Conflict") X(410, "Gone") X(411, "Length Required") X(412, "Precondition Failed") \
    X(413, "Content Too Large") X(414, "URI Too Long") X(415, "Unsupported Media Type")       \
    X(416, "Range Not Satisfiable") X(417, "Expectation Failed")                              \
    X(421, "Misdirected Request") X(422, "Unprocessable Content") X(426, "Upgrade Required")  \
    X(428, "Precondition Required") X(429, "Too Many Requests")                               \
    X(431, "Request Header Fields Too Large") X(500, "Internal Server Error")                  \
    X(501, "Not Implemented") X(502, "Bad Gateway") X(503, "Service Unavailable")             \
    X(504, "Gateway Timeout") X(505, "HTTP Version Not Supported")

const char *http_status_reason(int status)
{
#define REASON_CASE(code, reason) \
    case code:                    \
        return reason;
    switch (status) {
        HTTP_STATUSES(REASON_CASE)
    default:
        return "";
    }
#undef REASON_CASE
}

const char *http_status_line(int status, char buf[HTTP_STATUS_LINE_MAX], size_t *len)
{
#define LINE_CASE(code, reason)                                      \
    case code:                                                       \
        *len = sizeof("HTTP/1.1 " #code " " reason "\r\n") - 1;      \
        return "HTTP/1.1 " #code " " reason "\r\n";
    switch (status) {
        HTTP_STATUSES(LINE_CASE)
    default:
        break;
    }
#undef LINE_CASE
    static const char generic[] = "HTTP/1.1 000 \r\n";
    for (size_t i = 0; i < sizeof(generic); i++)
        buf[i] = generic[i];
    buf[9] = (char)('0' + status / 100 % 10);
    buf[10] = (char)('0' + status / 10 % 10);
    buf[11] = (char)('0' + status % 10);
    *len = sizeof(generic) - 1;
    return buf;
}
