/* http_response.c: status table, response head serialisation (memcpy only) and core error bodies. */
#include "http_response.h"
#include <string.h>
#include <strings.h>
#include "date_cache.h"

typedef struct { int code; const char *reason; const char *name; } status_info;

static const status_info statuses[] = {
  {100, "Continue", NULL}, {101, "Switching Protocols", NULL}, {103, "Early Hints", NULL},
  {200, "OK", NULL}, {201, "Created", NULL}, {202, "Accepted", NULL},
  {203, "Non-Authoritative Information", NULL}, {204, "No Content", NULL}, {205, "Reset Content", NULL},
  {206, "Partial Content", NULL}, {207, "Multi-Status", NULL}, {208, "Already Reported", NULL},
  {226, "IM Used", NULL},
  {300, "Multiple Choices", NULL}, {301, "Moved Permanently", NULL}, {302, "Found", NULL},
  {303, "See Other", NULL}, {304, "Not Modified", NULL}, {307, "Temporary Redirect", NULL},
  {308, "Permanent Redirect", NULL},
  {400, "Bad Request", "BadRequest"}, {401, "Unauthorized", "Unauthorized"},
  {402, "Payment Required", "PaymentRequired"}, {403, "Forbidden", "Forbidden"},
  {404, "Not Found", "NotFound"}, {405, "Method Not Allowed", "MethodNotAllowed"},
  {406, "Not Acceptable", "NotAcceptable"},
  {407, "Proxy Authentication Required", "ProxyAuthenticationRequired"},
  {408, "Request Timeout", "RequestTimeout"}, {409, "Conflict", "Conflict"}, {410, "Gone", "Gone"},
  {411, "Length Required", "LengthRequired"}, {412, "Precondition Failed", "PreconditionFailed"},
  /* RFC 9110 renamed 413 "Content Too Large"; the old phrase and name stay, as the Lua errors do */
  {413, "Payload Too Large", "PayloadTooLarge"}, {414, "URI Too Long", "URITooLong"},
  {415, "Unsupported Media Type", "UnsupportedMediaType"},
  {416, "Range Not Satisfiable", "RangeNotSatisfiable"}, {417, "Expectation Failed", "ExpectationFailed"},
  {418, "I'm a teapot", "ImATeapot"},
  {421, "Misdirected Request", "MisdirectedRequest"},
  {422, "Unprocessable Content", "UnprocessableContent"}, {423, "Locked", "Locked"},
  {424, "Failed Dependency", "FailedDependency"}, {425, "Too Early", "TooEarly"},
  {426, "Upgrade Required", "UpgradeRequired"}, {428, "Precondition Required", "PreconditionRequired"},
  {429, "Too Many Requests", "TooManyRequests"},
  {431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge"},
  {451, "Unavailable For Legal Reasons", "UnavailableForLegalReasons"},
  {500, "Internal Server Error", "InternalServerError"}, {501, "Not Implemented", "NotImplemented"},
  {502, "Bad Gateway", "BadGateway"}, {503, "Service Unavailable", "ServiceUnavailable"},
  {504, "Gateway Timeout", "GatewayTimeout"}, {505, "HTTP Version Not Supported", "HTTPVersionNotSupported"},
  {506, "Variant Also Negotiates", "VariantAlsoNegotiates"},
  {507, "Insufficient Storage", "InsufficientStorage"}, {508, "Loop Detected", "LoopDetected"},
  {511, "Network Authentication Required", "NetworkAuthenticationRequired"},
};

static const status_info *find_status(int code) {
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
    if (statuses[i].code == code) return &statuses[i];
  return NULL;
}

const char *pk__status_reason(int status) {
  const status_info *s = find_status(status);
  return s ? s->reason : "";   /* the reason phrase is optional (RFC 9112 4): none for other codes */
}

const char *pk__status_error_name(int status) {
  const status_info *s = find_status(status);
  if (s && s->name) return s->name;
  return status >= 500 ? "InternalServerError" : "BadRequest";
}

#define LIT(b, s) pk__buf_append((b), (s), sizeof(s) - 1)

/* extra without its Connection lines (a 426's Connection header is the writer's). Cold path. */
static void append_without_connection(pk__buf *out, const char *extra, size_t len) {
  const char *p = extra, *end = extra + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl + 1 : end;
    if (!((size_t)(le - p) >= 11 && strncasecmp(p, "connection:", 11) == 0))
      pk__buf_append(out, p, (size_t)(le - p));
    p = le;
  }
}

int pk__response_write(pk__buf *out, const pk__response *r) {
  int st = r->status;
  if (st < 100 || st > 999) st = 500;
  const char *reason = pk__status_reason(st);
  int no_body = (st < 200 || st == 204 || st == 304);
  /* 205 has no content either, but clients read it by its length: Content-Length: 0 (RFC 9110
   * section 15.3.6), and whatever body was given is dropped */
  int reset = st == 205;
  /* 426 Upgrade Required names the protocol in an Upgrade header (the caller's, in extra), and
   * whoever sends Upgrade must also send Connection: upgrade (RFC 9110 sections 15.5.22, 7.8):
   * one Connection header with both options, and any Connection line in extra left out. */
  int upgrade = st == 426;
  size_t need = 192 + strlen(reason) + r->content_type_len + r->extra_len + (r->head ? 0 : r->body_len);
  if (pk__buf_reserve(out, need)) return -1;
  char code[4] = {(char)('0' + st / 100), (char)('0' + st / 10 % 10), (char)('0' + st % 10), ' '};
  LIT(out, "HTTP/1.1 ");
  pk__buf_append(out, code, 4);
  pk__buf_append_str(out, reason);
  LIT(out, "\r\nServer: pikku/" PIKKU_VERSION "\r\nDate: ");
  pk__buf_append(out, pk__date_str(), 29);
  if (r->content_type && !no_body && !reset) {
    LIT(out, "\r\nContent-Type: ");
    pk__buf_append(out, r->content_type, r->content_type_len);
  }
  if (reset) LIT(out, "\r\nContent-Length: 0");
  else if (!no_body && !r->stream) {
    LIT(out, "\r\nContent-Length: ");
    pk__buf_append_uint(out, r->body_len);
  }
  if (upgrade) {
    if (!r->keep_alive) LIT(out, "\r\nConnection: Upgrade, close");
    else if (r->http10) LIT(out, "\r\nConnection: Upgrade, keep-alive");
    else LIT(out, "\r\nConnection: Upgrade");
  }
  else if (!r->keep_alive) LIT(out, "\r\nConnection: close");
  else if (r->http10) LIT(out, "\r\nConnection: keep-alive");
  LIT(out, "\r\n");
  if (upgrade) append_without_connection(out, r->extra, r->extra_len);
  else pk__buf_append(out, r->extra, r->extra_len);
  LIT(out, "\r\n");
  if (!r->head && !no_body && !reset) pk__buf_append(out, r->body, r->body_len);
  return 0;
}

int pk__error_body(pk__buf *out, int status, const char *message, const char *error_id, size_t id_len) {
  const char *name = pk__status_error_name(status);
  int rc = LIT(out, "{\"name\":");
  rc |= pk__buf_append_json_string(out, name, strlen(name));
  rc |= LIT(out, ",\"message\":");
  rc |= pk__buf_append_json_string(out, message, strlen(message));
  rc |= LIT(out, ",\"errorId\":");
  rc |= pk__buf_append_json_string(out, error_id, id_len);
  rc |= LIT(out, "}");
  return rc ? -1 : 0;
}
