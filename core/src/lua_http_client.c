/* lua_http_client.c: the pikku.http_c module: outbound HTTP(S) on libcurl's multi interface, driven by the worker's libuv loop; responses whole or streamed. */
#include "lua_modules.h"
#include <ctype.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "outbound.h"

/* A streamed response (request{ stream = true }) keeps at most this much body in C: past it the
 * transfer is paused (CURL_WRITEFUNC_PAUSE) until the function reads, so memory stays bounded
 * whatever the size of the body. Also http_c.STREAM_BUFFER. */
#define STREAM_HIGH_WATER (256 * 1024)
#define STREAM_MT "pikku.http.stream"

/* One multi handle per host (Lua state): its connection cache is the host's pool, closed with it. */
typedef struct hreq hreq;
typedef struct sockctx sockctx;
typedef struct curl_ctx {
  CURLM *multi;             /* NULL until the first request (none while the app loads) */
  uv_loop_t *loop;
  uv_timer_t timer;
  pk__host *h;
  hreq *reqs;               /* in flight */
  sockctx *socks;           /* sockets curl asked us to watch */
  CURL *spare[16];          /* easy handles kept for the next requests */
  int nspare;
  int open_handles;         /* timer + polls not yet closed */
  int dead;                 /* the state closed: free when open_handles reaches 0 */
  int nwake;                /* streamed transfers with a call to resume (hreq.wake) */
} curl_ctx;

struct sockctx { uv_poll_t poll; curl_socket_t fd; curl_ctx *c; sockctx *prev, *next; };

/* One transfer. A whole response: resumed once, at the end, and freed. A streamed one lives on
 * after its head was handed over, until Lua closes it (or its Lua object is collected): every
 * transfer in c->reqs pins the host (pk__host_ref), so no callback ever reaches a closed state. */
struct hreq {
  CURL *easy;               /* NULL once a streamed transfer is done (the handle went back) */
  curl_ctx *c;
  double token;             /* the call waiting for the response (the head, for a stream); 0 after */
  pk__buf body, head;
  struct curl_slist *hdrs;
  curl_off_t max_body;      /* -1: none */
  curl_off_t received;      /* body bytes taken (a stream's max_body) */
  int too_large;
  int follow;               /* redirects are followed: a 3xx head is not the last */
  /* streamed responses */
  int stream;
  int head_ready;           /* the last head is complete: the call waiting on token may have it */
  int head_sent;            /* ... and has it: reads go on through the Lua object */
  int paused;               /* the write callback said CURL_WRITEFUNC_PAUSE: resumed by a read */
  int done;                 /* the transfer ended (rc says how); what is buffered is still read */
  int wake;                 /* a call is to be resumed (the head, or a read): flush_wakes */
  CURLcode rc;
  double read_token;        /* a call waiting in read() for data or the end; 0: none */
  hreq **box;               /* the Lua object's pointer to this, cleared when it is freed */
  char err[CURL_ERROR_SIZE];
  hreq *prev, *next;
};

static void ctx_release(curl_ctx *c) {
  if (c->dead && c->open_handles == 0) free(c);
}

static void timer_closed(uv_handle_t *hd) {
  curl_ctx *c = hd->data;
  c->open_handles--;
  ctx_release(c);
}

static void sock_closed(uv_handle_t *hd) {
  sockctx *sc = hd->data;
  curl_ctx *c = sc->c;
  free(sc);
  c->open_handles--;
  ctx_release(c);
}

static void sock_close(sockctx *sc) {
  curl_ctx *c = sc->c;
  if (sc->prev) sc->prev->next = sc->next; else c->socks = sc->next;
  if (sc->next) sc->next->prev = sc->prev;
  uv_poll_stop(&sc->poll);
  uv_close((uv_handle_t *)&sc->poll, sock_closed);
}

/* The easy handle out of the multi (a transfer not done is dropped: curl closes its connection)
 * and kept for the next request. */
static void detach_easy(hreq *r) {
  curl_ctx *c = r->c;
  if (!r->easy) return;
  if (c->multi) curl_multi_remove_handle(c->multi, r->easy);
  if (c->nspare < (int)(sizeof c->spare / sizeof c->spare[0])) {
    curl_easy_reset(r->easy);
    c->spare[c->nspare++] = r->easy;
  } else {
    curl_easy_cleanup(r->easy);
  }
  r->easy = NULL;
}

static void req_free(hreq *r) {
  curl_ctx *c = r->c;
  if (r->prev) r->prev->next = r->next; else c->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  if (r->wake) c->nwake--;
  if (r->box) *r->box = NULL;
  detach_easy(r);
  curl_slist_free_all(r->hdrs);
  pk__buf_free(&r->body);
  pk__buf_free(&r->head);
  free(r);
}

/* The failure's kind, as pikku.http names them for the caller. */
static const char *kind_of(hreq *r, CURLcode rc) {
  if (r->too_large) return "too_large";
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
  case CURLE_COULDNT_CONNECT: return "refused";
  case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CONNECT_ERROR: case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ENGINE_INITFAILED: case CURLE_USE_SSL_FAILED:
    return "tls";
  case CURLE_FILESIZE_EXCEEDED: return "too_large";
  case CURLE_TOO_MANY_REDIRECTS: return "redirects";
  case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL: return "url";
  case CURLE_GOT_NOTHING: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_PARTIAL_FILE:
    return "closed";
  default: return "http";
  }
}

/* Pushes the response head's header lines as a table (names lower-case; repeated ones joined
 * with ", ", set-cookie with "\n"). */
static void push_headers(lua_State *L, const pk__buf *b) {
  lua_newtable(L);
  size_t i = 0;
  while (i < b->len) {
    const char *line = b->data + i;
    const char *eol = memchr(line, '\n', b->len - i);
    size_t n = eol ? (size_t)(eol - line) : b->len - i;
    i += n + 1;
    if (n && line[n - 1] == '\r') n--;
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line) continue;
    char name[256];
    size_t nl = (size_t)(colon - line);
    if (nl >= sizeof name) continue;
    for (size_t k = 0; k < nl; k++) name[k] = (char)tolower((unsigned char)line[k]);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    lua_pushlstring(L, name, nl);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isstring(L, -1)) {
      int cookie = nl == 10 && !memcmp(name, "set-cookie", 10);
      lua_pushstring(L, cookie ? "\n" : ", ");
      lua_pushlstring(L, v, (size_t)(end - v));
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, v, (size_t)(end - v));
    }
    lua_rawset(L, -3);
  }
}

/* A streamed transfer has something for the call that waits on it (its head, data or the end):
 * resumed by flush_wakes once curl has returned (Lua may call curl again; never from a callback). */
static void wake(hreq *r) {
  if (r->wake) return;
  if (!r->head_sent ? !(r->head_ready || r->done) : !r->read_token) return;
  r->wake = 1;
  r->c->nwake++;
}

/* "HTTP/1.1 200 OK": the status of the head in b, and its version ("1.1", "2", ...). */
static int head_status(const pk__buf *b, const char **version) {
  *version = "1.1";
  if (b->len < 12 || memcmp(b->data, "HTTP/", 5)) return 0;
  const char *sp = memchr(b->data, ' ', b->len);
  if (!sp || (size_t)(sp - b->data) + 4 > b->len) return 0;
  size_t vl = (size_t)(sp - b->data) - 5;
  const char *v = b->data + 5;
  if (vl == 1 && v[0] == '2') *version = "2";
  else if (vl == 1 && v[0] == '3') *version = "3";
  else if (vl == 3 && !memcmp(v, "1.0", 3)) *version = "1.0";
  int st = 0;
  for (int i = 1; i <= 3; i++) {
    if (!isdigit((unsigned char)sp[i])) return 0;
    st = st * 10 + (sp[i] - '0');
  }
  return st;
}

/* What went wrong, for (nil, kind, message). */
static void failure(hreq *r, CURLcode rc, const char **kind, char *msg, size_t size);

static int push_stream(lua_State *L, hreq *r) {
  hreq **p = lua_newuserdata(L, sizeof *p);
  *p = r;
  r->box = p;
  luaL_getmetatable(L, STREAM_MT);
  lua_setmetatable(L, -2);
  return 1;
}

/* Resumes the call r->wake stands for. The call may close r (or any other transfer). */
static void deliver(hreq *r) {
  curl_ctx *c = r->c;
  pk__host *h = c->h;
  lua_State *L = h->L;
  if (!r->head_sent) {
    double token = r->token;
    if (r->head_ready) {
      const char *version;
      int status = head_status(&r->head, &version);
      r->head_sent = 1;
      r->token = 0;
      lua_pushinteger(L, status);
      push_headers(L, &r->head);
      push_stream(L, r);
      lua_pushstring(L, version);
      pk__buf_free(&r->head);
      pk__host_resume(h, token, 4);
    } else {
      char msg[CURL_ERROR_SIZE + 128];
      const char *kind;
      failure(r, r->rc, &kind, msg, sizeof msg);
      req_free(r);
      pk__ob_fail(h, token, kind, msg);
      pk__host_unref(h);
    }
    return;
  }
  double token = r->read_token;
  r->read_token = 0;
  lua_pushboolean(L, 1);
  pk__host_resume(h, token, 1);
}

static void flush_wakes(curl_ctx *c) {
  while (c->nwake > 0) {
    hreq *r = c->reqs;
    while (r && !r->wake) r = r->next;
    if (!r) { c->nwake = 0; break; }
    r->wake = 0;
    c->nwake--;
    deliver(r);
  }
}

/* A streamed transfer ended: its easy handle goes back at once (the connection returns to the
 * cache); what is buffered stays for the reads, then the end or the failure. */
static void stream_done(hreq *r, CURLcode rc) {
  r->done = 1;
  r->rc = rc;
  if (rc == CURLE_OK && !r->too_large) r->head_ready = 1;
  detach_easy(r);
  wake(r);
}

/* Resumes the calls whose transfers are done. A resumed call may start or cancel others. */
static void check_done(curl_ctx *c) {
  CURLMsg *m;
  int left;
  while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    hreq *r = NULL;
    CURLcode rc = m->data.result;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (!r) continue;
    if (r->stream) {
      stream_done(r, rc);
      continue;
    }
    pk__host *h = c->h;
    lua_State *L = h->L;
    double token = r->token;
    if (rc == CURLE_OK && !r->too_large) {
      long status = 0;
      curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
      lua_pushinteger(L, status);
      push_headers(L, &r->head);
      lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
      long v = 0;
      curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &v);
      lua_pushstring(L, v == CURL_HTTP_VERSION_2_0 ? "2" : v == CURL_HTTP_VERSION_3 ? "3"
                          : v == CURL_HTTP_VERSION_1_0 ? "1.0" : "1.1");
      req_free(r);
      pk__host_resume(h, token, 4);
    } else {
      char msg[CURL_ERROR_SIZE + 128];
      const char *kind;
      failure(r, rc, &kind, msg, sizeof msg);
      req_free(r);
      pk__ob_fail(h, token, kind, msg);
    }
    pk__host_unref(h);
  }
  flush_wakes(c);
}

static void failure(hreq *r, CURLcode rc, const char **kind, char *msg, size_t size) {
  *kind = kind_of(r, rc);
  if (r->too_large)
    snprintf(msg, size, "the response body is larger than max_body (%lld bytes)", (long long)r->max_body);
  else
    snprintf(msg, size, "%s", r->err[0] ? r->err : curl_easy_strerror(rc));
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sockctx *sc = p->data;
  curl_ctx *c = sc->c;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  int running;
  curl_multi_socket_action(c->multi, sc->fd, flags, &running);
  check_done(c);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  curl_ctx *c = userp;
  sockctx *sc = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sc) {
      curl_multi_assign(c->multi, s, NULL);
      sock_close(sc);
    }
    return 0;
  }
  if (!sc) {
    sc = calloc(1, sizeof *sc);
    if (!sc) return -1;
    if (uv_poll_init_socket(c->loop, &sc->poll, s)) { free(sc); return -1; }
    sc->fd = s;
    sc->c = c;
    sc->poll.data = sc;
    sc->next = c->socks;
    if (c->socks) c->socks->prev = sc;
    c->socks = sc;
    c->open_handles++;
    curl_multi_assign(c->multi, s, sc);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&sc->poll, ev, on_poll);
  return 0;
}

static void on_timeout(uv_timer_t *t) {
  curl_ctx *c = t->data;
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(c);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  curl_ctx *c = userp;
  if (timeout_ms < 0) uv_timer_stop(&c->timer);
  else uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  hreq *r = ud;
  size_t len = size * n;
  if (r->stream) {
    /* full: curl keeps this piece and stops reading until a read empties the buffer */
    if (r->body.len > 0 && r->body.len + len > STREAM_HIGH_WATER) {
      r->paused = 1;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (!r->head_ready) r->head_ready = 1;   /* a body: its head was the last */
  }
  if (r->max_body >= 0 && r->received + (curl_off_t)len > r->max_body) {
    r->too_large = 1;
    return 0;   /* curl aborts the transfer */
  }
  if (pk__buf_append(&r->body, p, len)) return 0;
  r->received += (curl_off_t)len;
  if (r->stream) wake(r);
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  hreq *r = ud;
  size_t len = size * n;
  if (r->head_ready) return len;   /* a stream's trailers: its head went out */
  if (len >= 5 && !memcmp(p, "HTTP/", 5)) pk__buf_reset(&r->head);   /* a new response (redirect, 100) */
  if (pk__buf_append(&r->head, p, len)) return 0;
  if (r->stream && (len == 1 || (len == 2 && p[0] == '\r')) && p[len - 1] == '\n') {
    /* the end of a head: the last one unless informational (1xx) or a redirect curl follows */
    const char *version;
    int st = head_status(&r->head, &version);
    if (st >= 200 && !(r->follow && st >= 300 && st < 400)) {
      r->head_ready = 1;
      wake(r);
    }
  }
  return len;
}

static curl_ctx *ctx_of(lua_State *L) {
  curl_ctx **p = lua_touserdata(L, lua_upvalueindex(1));
  return *p;
}

static int ctx_start(lua_State *L, curl_ctx *c) {
  if (c->multi) return 0;
  c->loop = pk__ob_loop(L, "pikku.http");
  c->multi = curl_multi_init();
  if (!c->multi) return luaL_error(L, "pikku.http: cannot create a curl multi handle");
  uv_timer_init(c->loop, &c->timer);
  c->timer.data = c;
  c->open_handles++;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  return 0;
}

static const char *optstr(lua_State *L, int idx, const char *field, size_t *len) {
  lua_getfield(L, idx, field);
  const char *s = lua_isstring(L, -1) ? lua_tolstring(L, -1, len) : NULL;
  lua_pop(L, 1);   /* the string stays alive: the options table holds it */
  return s;
}

/* request(token, opts): opts = { method, url, headers = {"Name: value", ...}, body, timeout_ms,
 * connect_timeout_ms, max_body, max_redirects (0: do not follow), ca_file, verify (bool),
 * decode (false: no content decoding), stream (bool) }. The call waiting on token is resumed with (status, headers, body, http_version)
 * or (nil, kind, message); with stream, as soon as the head is there, with (status, headers,
 * stream, http_version), stream being the object read(), wait() and close() take. */
static int l_request(lua_State *L) {
  curl_ctx *c = ctx_of(L);
  double token = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  ctx_start(L, c);
  size_t ulen = 0, blen = 0, mlen = 0;
  const char *url = optstr(L, 2, "url", &ulen);
  const char *method = optstr(L, 2, "method", &mlen);
  const char *body = optstr(L, 2, "body", &blen);
  const char *ca = optstr(L, 2, "ca_file", NULL);
  if (!url) return luaL_error(L, "pikku.http: url is required");
  hreq *r = calloc(1, sizeof *r);
  if (!r) return luaL_error(L, "out of memory");
  r->easy = c->nspare ? c->spare[--c->nspare] : curl_easy_init();
  if (!r->easy) { free(r); return luaL_error(L, "pikku.http: cannot create a curl handle"); }
  r->c = c;
  r->token = token;
  r->max_body = (curl_off_t)pk__ob_optnum(L, 2, "max_body", -1);
  lua_getfield(L, 2, "stream");
  r->stream = lua_toboolean(L, -1);
  lua_pop(L, 1);
  pk__buf_init(&r->body);
  pk__buf_init(&r->head);
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  lua_getfield(L, 2, "decode");
  if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);   /* the body as sent; no Accept-Encoding added */
  else
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");   /* what this libcurl can decode */
  lua_pop(L, 1);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)pk__ob_optnum(L, 2, "timeout_ms", 30000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)pk__ob_optnum(L, 2, "connect_timeout_ms", 10000));
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);   /* a proxy's CONNECT answer is no head */
  if (r->max_body >= 0) curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, r->max_body);
  long redirects = (long)pk__ob_optnum(L, 2, "max_redirects", 0);
  if (redirects > 0) {
    r->follow = 1;
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, redirects);
  }
  if (ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
  lua_getfield(L, 2, "verify");
  if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  lua_pop(L, 1);
  lua_getfield(L, 2, "headers");
  if (lua_istable(L, -1)) {
    for (int i = 1;; i++) {
      lua_rawgeti(L, -1, i);
      const char *line = lua_tostring(L, -1);
      lua_pop(L, 1);
      if (!line) break;
      struct curl_slist *n = curl_slist_append(r->hdrs, line);
      if (!n) break;
      r->hdrs = n;
    }
  }
  lua_pop(L, 1);
  if (r->hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
  if (body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
  }
  if (method) {
    if (mlen == 4 && !memcmp(method, "HEAD", 4)) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (!(mlen == 3 && !memcmp(method, "GET", 3) && !body)) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  r->next = c->reqs;
  if (c->reqs) c->reqs->prev = r;
  c->reqs = r;
  CURLMcode mc = curl_multi_add_handle(c->multi, e);
  if (mc != CURLM_OK) {
    req_free(r);
    return luaL_error(L, "pikku.http: %s", curl_multi_strerror(mc));
  }
  pk__host_ref(c->h);
  return 0;
}

/* cancel(token): drops the transfer the call waiting on token made (it is never resumed). */
static int l_cancel(lua_State *L) {
  curl_ctx *c = ctx_of(L);
  double token = luaL_checknumber(L, 1);
  for (hreq *r = c->reqs; r; r = r->next) {
    if (r->token == token && !r->head_sent) {
      req_free(r);
      pk__host_unref(c->h);
      break;
    }
  }
  return 0;
}

/* ---- streamed responses: the object the head was resumed with ---------------------------------- */

static hreq *check_stream(lua_State *L) {
  hreq **p = luaL_checkudata(L, 1, STREAM_MT);
  return *p;
}

/* read(stream) -> chunk (a string: all that is buffered) | false (the end) | nil, kind, message
 * (the transfer failed; what came before it was read first) | true (nothing yet: wait(stream,
 * token), then read again). A closed stream reads as the end. */
static int l_read(lua_State *L) {
  hreq *r = check_stream(L);
  if (!r) { lua_pushboolean(L, 0); return 1; }
  if (r->body.len) {
    lua_pushlstring(L, r->body.data, r->body.len);
    pk__buf_reset(&r->body);
    if (r->paused && r->easy) {
      r->paused = 0;
      curl_easy_pause(r->easy, CURLPAUSE_CONT);   /* may hand over its kept piece at once (on_body) */
    }
    return 1;
  }
  if (r->done) {
    if (r->rc == CURLE_OK && !r->too_large) { lua_pushboolean(L, 0); return 1; }
    char msg[CURL_ERROR_SIZE + 128];
    const char *kind;
    failure(r, r->rc, &kind, msg, sizeof msg);
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, msg);
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* wait(stream, token) -> true: the call waiting on token is resumed with true when data or the
 * end is there; false: no need (read again); nil: the stream is closed. */
static int l_wait(lua_State *L) {
  hreq *r = check_stream(L);
  double token = luaL_checknumber(L, 2);
  if (!r) { lua_pushnil(L); return 1; }
  if (r->body.len || r->done) { lua_pushboolean(L, 0); return 1; }
  if (r->read_token) return luaL_error(L, "pikku.http: a streamed response read by two calls at once");
  r->read_token = token;
  lua_pushboolean(L, 1);
  return 1;
}

/* close(stream): drops the transfer (curl closes its connection when it was not done) and what is
 * buffered. A call waiting in read() on it is not resumed: the caller sees to it. */
static int l_stream_close(lua_State *L) {
  hreq **p = luaL_checkudata(L, 1, STREAM_MT);
  hreq *r = *p;
  if (!r) return 0;
  pk__host *h = r->c->h;
  req_free(r);   /* clears *p */
  if (h->refs > 0) pk__host_unref(h);   /* 0: the state is closing (lua_close collects everything) */
  return 0;
}

/* The state closes: transfers in flight pin it, so none is left; close the connections. */
static int l_ctx_gc(lua_State *L) {
  curl_ctx **p = lua_touserdata(L, 1);
  curl_ctx *c = *p;
  *p = NULL;
  if (!c) return 0;
  while (c->reqs) req_free(c->reqs);
  for (int i = 0; i < c->nspare; i++) curl_easy_cleanup(c->spare[i]);
  c->nspare = 0;
  c->dead = 1;
  if (c->multi) {
    for (sockctx *sc = c->socks; sc; sc = sc->next) uv_poll_stop(&sc->poll);
    curl_multi_cleanup(c->multi);   /* may call on_socket(REMOVE) for its sockets */
    c->multi = NULL;
    while (c->socks) sock_close(c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
  }
  ctx_release(c);
  return 0;
}

int luaopen_pikku_http_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.http_c: only inside the pikku host");
  static int inited;
  if (!inited) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return luaL_error(L, "pikku.http_c: curl_global_init failed");
    inited = 1;
  }
  curl_ctx **p = lua_newuserdata(L, sizeof *p);
  *p = calloc(1, sizeof **p);
  if (!*p) return luaL_error(L, "out of memory");
  (*p)->h = h;
  lua_newtable(L);
  lua_pushcfunction(L, l_ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int ud = lua_gettop(L);
  lua_newtable(L);
  lua_pushvalue(L, ud);
  lua_pushcclosure(L, l_request, 1);
  lua_setfield(L, -2, "request");
  lua_pushvalue(L, ud);
  lua_pushcclosure(L, l_cancel, 1);
  lua_setfield(L, -2, "cancel");
  luaL_newmetatable(L, STREAM_MT);
  lua_pushcfunction(L, l_stream_close);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  static const luaL_Reg stream_fns[] = {
    {"read", l_read}, {"wait", l_wait}, {"close", l_stream_close}, {NULL, NULL},
  };
  luaL_register(L, NULL, stream_fns);
  lua_pushinteger(L, STREAM_HIGH_WATER);
  lua_setfield(L, -2, "STREAM_BUFFER");
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "version");
  return 1;
}
