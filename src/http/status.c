/*
 * status.c — HTTP's vocabulary: status codes with their reason phrases and
 * the error names of the common error shape ("not_found_404"), the methods
 * vial routes, and the Date header.
 */
#include "http.h"

#include <time.h>

static const char *const method_names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                            "OPTIONS" };

unsigned vial__method_bit(const char *m, size_t n)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(method_names); i++)
        if (strlen(method_names[i]) == n && !memcmp(method_names[i], m, n))
            return 1u << i;
    return 0;
}

const char *vial__method_name(unsigned bit)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(method_names); i++)
        if (bit == 1u << i)
            return method_names[i];
    return NULL;
}

/* ------------------------------------------------------------------ status table */

static const struct {
    int code;
    const char *reason, *name;
} statuses[] = {
    { 100, "Continue", "continue_100" },
    { 101, "Switching Protocols", "switching_protocols_101" },
    { 200, "OK", "ok_200" },
    { 201, "Created", "created_201" },
    { 202, "Accepted", "accepted_202" },
    { 204, "No Content", "no_content_204" },
    { 206, "Partial Content", "partial_content_206" },
    { 301, "Moved Permanently", "moved_permanently_301" },
    { 302, "Found", "found_302" },
    { 303, "See Other", "see_other_303" },
    { 304, "Not Modified", "not_modified_304" },
    { 307, "Temporary Redirect", "temporary_redirect_307" },
    { 308, "Permanent Redirect", "permanent_redirect_308" },
    { 400, "Bad Request", "bad_request_400" },
    { 401, "Unauthorized", "unauthorized_401" },
    { 403, "Forbidden", "forbidden_403" },
    { 404, "Not Found", "not_found_404" },
    { 405, "Method Not Allowed", "method_not_allowed_405" },
    { 406, "Not Acceptable", "not_acceptable_406" },
    { 408, "Request Timeout", "request_timeout_408" },
    { 409, "Conflict", "conflict_409" },
    { 410, "Gone", "gone_410" },
    { 411, "Length Required", "length_required_411" },
    { 412, "Precondition Failed", "precondition_failed_412" },
    { 413, "Content Too Large", "payload_too_large_413" },
    { 414, "URI Too Long", "uri_too_long_414" },
    { 415, "Unsupported Media Type", "unsupported_media_type_415" },
    { 416, "Range Not Satisfiable", "range_not_satisfiable_416" },
    { 417, "Expectation Failed", "expectation_failed_417" },
    { 422, "Unprocessable Content", "unprocessable_entity_422" },
    { 426, "Upgrade Required", "upgrade_required_426" },
    { 429, "Too Many Requests", "too_many_requests_429" },
    { 431, "Request Header Fields Too Large", "request_header_fields_too_large_431" },
    { 500, "Internal Server Error", "internal_server_error_500" },
    { 501, "Not Implemented", "not_implemented_501" },
    { 502, "Bad Gateway", "bad_gateway_502" },
    { 503, "Service Unavailable", "service_unavailable_503" },
    { 504, "Gateway Timeout", "gateway_timeout_504" },
    { 505, "HTTP Version Not Supported", "http_version_not_supported_505" },
    { 507, "Insufficient Storage", "insufficient_storage_507" },
};

static int status_index(int status)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(statuses); i++)
        if (statuses[i].code == status)
            return (int)i;
    return -1;
}

const char *vial_status_reason(int status)
{
    int i = status_index(status);
    if (i >= 0)
        return statuses[i].reason;
    if (status >= 500)
        return "Server Error";
    if (status >= 400)
        return "Client Error";
    return "Unknown";
}

const char *vial_error_name(int status)
{
    int i = status_index(status);
    if (i >= 0)
        return statuses[i].name;
    return status >= 500 ? "server_error" : "client_error";
}

/* ------------------------------------------------------------------ Date */

static _Thread_local struct {
    time_t sec;
    char text[32];
} date_cache;

const char *vial__http_date(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_cache.sec || !date_cache.text[0]) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(date_cache.text, sizeof date_cache.text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_cache.sec = ts.tv_sec;
    }
    return date_cache.text;
}
