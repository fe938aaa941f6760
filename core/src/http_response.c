/* http_response.c: the status table, response head serialisation (memcpy only), core error bodies. */
#include "http_response.h"
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "date_cache.h"

/* The one status table: reason phrases for the status line, and for the error statuses Pikku's
 * error name (pikku.errors builds its constructors from it through pikku.status_c). A default
 * message is given only where Pikku's differs from the reason phrase in sentence case (403).
 * RFC 9110 renamed 413 "Content Too Large"; the old phrase and name stay, as Pikku's do. */
#define S(code, reason, name) {code, reason, name, NULL}
static const pk__status_info statuses[] = {
  S(100, "Continue", NULL), S(101, "Switching Protocols", NULL), S(103, "Early Hints", NULL),
  S(200, "OK", NULL), S(201, "Created", NULL), S(202, "Accepted", NULL),
  S(203, "Non-Authoritative Information", NULL), S(204, "No Content", NULL), S(205, "Reset Content", NULL),
  S(206, "Partial Content", NULL), S(207, "Multi-Status", NULL), S(208, "Already Reported", NULL),
  S(226, "IM Used", NULL),
  S(300, "Multiple Choices", NULL), S(301, "Moved Permanently", NULL), S(302, "Found", NULL),
  S(303, "See Other", NULL), S(304, "Not Modified", NULL), S(307, "Temporary Redirect", NULL),
  S(308, "Permanent Redirect", NULL),
  S(400, "Bad Request", "BadRequest"), S(401, "Unauthorized", "Unauthorized"),
  S(402, "Payment Required", "PaymentRequired"), {403, "Forbidden", "Forbidden", "Permission denied"},
  S(404, "Not Found", "NotFound"), S(405, "Method Not Allowed", "MethodNotAllowed"),
  S(406, "Not Acceptable", "NotAcceptable"),
  S(407, "Proxy Authentication Required", "ProxyAuthenticationRequired"),
  S(408, "Request Timeout", "RequestTimeout"), S(409, "Conflict", "Conflict"), S(410, "Gone", "Gone"),
  S(411, "Length Required", "LengthRequired"), S(412, "Precondition Failed", "PreconditionFailed"),
  S(413, "Payload Too Large", "PayloadTooLarge"), S(414, "URI Too Long", "URITooLong"),
  S(415, "Unsupported Media Type", "UnsupportedMediaType"),
  S(416, "Range Not Satisfiable", "RangeNotSatisfiable"), S(417, "Expectation Failed", "ExpectationFailed"),
  S(418, "I'm a teapot", "ImATeapot"),
  S(421, "Misdirected Request", "MisdirectedRequest"),
  S(422, "Unprocessable Content", "UnprocessableContent"), S(423, "Locked", "Locked"),
  S(424, "Failed Dependency", "FailedDependency"), S(425, "Too Early", "TooEarly"),
  S(426, "Upgrade Required", "UpgradeRequired"), S(428, "Precondition Required", "PreconditionRequired"),
  S(429, "Too Many Requests", "TooManyRequests"),
  S(431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge"),
  S(451, "Unavailable For Legal Reasons", "UnavailableForLegalReasons"),
  S(500, "Internal Server Error", "InternalServerError"), S(501, "Not Implemented", "NotImplemented"),
  S(502, "Bad Gateway", "BadGateway"), S(503, "Service Unavailable", "ServiceUnavailable"),
  S(504, "Gateway Timeout", "GatewayTimeout"), S(505, "HTTP Version Not Supported", "HTTPVersionNotSupported"),
  S(506, "Variant Also Negotiates", "VariantAlsoNegotiates"),
  S(507, "Insufficient Storage", "InsufficientStorage"), S(508, "Loop Detected", "LoopDetected"),
  S(511, "Network Authentication Required", "NetworkAuthenticationRequired"),
};
#undef S

const pk__status_info *pk__status_table(size_t *n) {
  *n = sizeof statuses / sizeof statuses[0];
  return statuses;
}

static const pk__status_info *find_status(int code) {
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
    if (statuses[i].code == code) return &statuses[i];
  return NULL;
}

const char *pk__status_reason(int status) {
  const pk__status_info *s = find_status(status);
  return s ? s->reason : "";   /* the reason phrase is optional (RFC 9112 4): none for other codes */
}

const char *pk__status_error_name(int status) {
  const pk__status_info *s = find_status(status);
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
  if (pk__buf_reserve(out, need)) return -ENOMEM;
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
  return rc ? -ENOMEM : 0;
}

int pk__request_id_valid(const char *id, size_t n) {
  if (!id || n == 0 || n > PK_REQUEST_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f) return 0;
  return 1;
}
