/* lua_socket.c: the pikku.socket_c module: TCP connections for cosocket-style Lua drivers, TLS through OpenSSL memory BIOs. */
#include "lua_modules.h"
#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "buf.h"
#include "outbound.h"

#define SOCK_MT "pikku.socket.conn"

enum { OP_NONE, OP_RESOLVE, OP_CONNECT, OP_READ, OP_WRITE, OP_HANDSHAKE };

/* One TCP connection. At most one operation waits on it (the Lua layer refuses a second). Freed
 * when the userdata, the handles and the requests in flight have all let go of it (refs). */
typedef struct sock {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  pk__host *h;
  uv_loop_t *loop;
  double token;
  int op;                   /* what the waiting call waits for (OP_NONE: nothing) */
  int refs;
  int tcp_open, connected, closed, reading;
  int port;
  SSL *ssl;                 /* after sslhandshake */
  BIO *rbio, *wbio;         /* network -> SSL, SSL -> network */
  pk__buf plain;            /* decrypted bytes of the current read */
} sock;

typedef struct wreq { uv_write_t req; sock *s; size_t len; char data[]; } wreq;

static SSL_CTX *ssl_ctx;
static char ssl_ca_file[1024];

static void sock_release(sock *s) {
  if (--s->refs > 0) return;
  if (s->ssl) SSL_free(s->ssl);   /* frees the BIOs too */
  pk__buf_free(&s->plain);
  free(s);
}

static void handle_closed(uv_handle_t *hd) { sock_release(hd->data); }

static pk__host *op_end(sock *s) {
  if (s->op == OP_NONE) return NULL;
  s->op = OP_NONE;
  uv_timer_stop(&s->timer);
  if (s->reading) { uv_read_stop((uv_stream_t *)&s->tcp); s->reading = 0; }
  return s->h;
}

static void op_fail(sock *s, const char *kind, const char *msg) {
  double token = s->token;
  pk__host *h = op_end(s);
  if (!h) return;
  pk__ob_fail(h, token, kind, msg);
  pk__host_unref(h);
}

static void op_ok_bool(sock *s) {
  double token = s->token;
  pk__host *h = op_end(s);
  if (!h) return;
  lua_pushboolean(h->L, 1);
  pk__host_resume(h, token, 1);
  pk__host_unref(h);
}

static void shut(sock *s) {
  if (s->closed) return;
  s->closed = 1;
  if (s->tcp_open) { s->tcp_open = 0; uv_close((uv_handle_t *)&s->tcp, handle_closed); }
}

static void on_timeout(uv_timer_t *t) {
  sock *s = t->data;
  int op = s->op;
  if (op == OP_NONE) return;
  /* a read that timed out leaves the connection usable (as cosockets); the others do not */
  if (op != OP_READ) shut(s);
  op_fail(s, "timeout", op == OP_READ ? "timeout" : op == OP_WRITE ? "timeout (send)" : "timeout (connect)");
}

static void op_begin(sock *s, int op, double token, double ms) {
  s->op = op;
  s->token = token;
  pk__host_ref(s->h);
  uv_timer_start(&s->timer, on_timeout, pk__ob_ms(ms), 0);
}

/* ---- TLS ------------------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status);

/* Sends what OpenSSL wrote to the network BIO. Returns 0 or a libuv error. */
static int flush_wbio(sock *s, int for_write_op) {
  size_t pending = BIO_ctrl_pending(s->wbio);
  if (!pending) return 0;
  wreq *w = malloc(sizeof *w + pending);
  if (!w) return UV_ENOMEM;
  int n = BIO_read(s->wbio, w->data, (int)pending);
  if (n <= 0) { free(w); return 0; }
  w->s = s;
  w->len = for_write_op ? (size_t)n : 0;   /* 0: not the one the waiting send is resumed by */
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  s->refs++;
  int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_written);
  if (rc) { s->refs--; free(w); }
  return rc;
}

static void ssl_error(sock *s, const char *what) {
  char msg[300];
  unsigned long e = ERR_get_error();
  long v = SSL_get_verify_result(s->ssl);
  if (v != X509_V_OK) snprintf(msg, sizeof msg, "%s: certificate verify failed: %s", what, X509_verify_cert_error_string(v));
  else snprintf(msg, sizeof msg, "%s: %s", what, e ? ERR_reason_error_string(e) : "failed");
  ERR_clear_error();
  shut(s);
  op_fail(s, "tls", msg);
}

static void handshake_step(sock *s) {
  int rc = SSL_do_handshake(s->ssl);
  if (flush_wbio(s, 0)) { shut(s); op_fail(s, "closed", "cannot send"); return; }
  if (rc == 1) { op_ok_bool(s); return; }
  int e = SSL_get_error(s->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;   /* more bytes from the peer */
  ssl_error(s, "handshake failed");
}

/* ---- reading -------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
  static char rbuf[65536];
  buf->base = rbuf;
  buf->len = sizeof rbuf;
}

static void deliver(sock *s, const char *data, size_t len) {
  double token = s->token;
  pk__host *h = op_end(s);
  if (!h) return;
  lua_pushlstring(h->L, data, len);
  pk__host_resume(h, token, 1);
  pk__host_unref(h);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  sock *s = st->data;
  if (nread == 0) return;
  if (nread < 0) {
    if (s->op == OP_HANDSHAKE) { shut(s); op_fail(s, "tls", "the peer closed the connection during the handshake"); return; }
    shut(s);
    op_fail(s, "closed", nread == UV_EOF ? "closed" : uv_strerror((int)nread));
    return;
  }
  if (!s->ssl) { deliver(s, buf->base, (size_t)nread); return; }
  BIO_write(s->rbio, buf->base, (int)nread);
  if (s->op == OP_HANDSHAKE) { handshake_step(s); return; }
  pk__buf_reset(&s->plain);
  for (;;) {
    size_t room;
    char *p = pk__buf_space(&s->plain, 16384, &room);
    if (!p) break;
    int n = SSL_read(s->ssl, p, (int)(room > 65536 ? 65536 : room));
    if (n > 0) { pk__buf_commit(&s->plain, (size_t)n); continue; }
    int e = SSL_get_error(s->ssl, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {   /* close_notify */
      if (s->plain.len) break;
      shut(s);
      op_fail(s, "closed", "closed");
      return;
    }
    ssl_error(s, "read failed");
    return;
  }
  flush_wbio(s, 0);   /* TLS 1.3 may answer tickets or key updates */
  if (s->plain.len) deliver(s, s->plain.data, s->plain.len);
}

static int start_reading(sock *s) {
  if (s->reading) return 0;
  int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  if (!rc) s->reading = 1;
  return rc;
}

/* ---- writing -------------------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  sock *s = w->s;
  size_t len = w->len;
  free(w);
  if (s->op == OP_WRITE && (len || status < 0)) {
    if (status < 0) { shut(s); op_fail(s, "closed", uv_strerror(status)); }
    else {
      double token = s->token;
      pk__host *h = op_end(s);
      if (h) {
        lua_pushnumber(h->L, (lua_Number)len);
        pk__host_resume(h, token, 1);
        pk__host_unref(h);
      }
    }
  }
  sock_release(s);
}

/* ---- connecting ----------------------------------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status) {
  sock *s = req->data;
  if (status == 0) s->connected = 1;
  if (s->op != OP_CONNECT) { sock_release(s); return; }
  if (status) {
    shut(s);
    op_fail(s, status == UV_ECONNREFUSED ? "refused" : status == UV_ETIMEDOUT ? "timeout" : "refused", uv_strerror(status));
  } else {
    uv_tcp_nodelay(&s->tcp, 1);
    op_ok_bool(s);
  }
  sock_release(s);
}

static int connect_addr(sock *s, const struct sockaddr *addr) {
  if (uv_tcp_init(s->loop, &s->tcp)) return UV_ENOMEM;
  s->tcp.data = s;
  s->tcp_open = 1;
  s->refs++;   /* the tcp handle */
  s->creq.data = s;
  s->refs++;   /* the connect request */
  int rc = uv_tcp_connect(&s->creq, &s->tcp, addr, on_connected);
  if (rc) s->refs--;
  return rc;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  sock *s = req->data;
  if (s->op == OP_RESOLVE) {
    if (status || !res) op_fail(s, "dns", uv_strerror(status ? status : UV_EAI_NONAME));
    else {
      ((struct sockaddr_in *)res->ai_addr)->sin_port = htons((uint16_t)s->port);   /* same place for v6 */
      s->op = OP_CONNECT;
      int rc = connect_addr(s, res->ai_addr);
      if (rc) { shut(s); op_fail(s, "refused", uv_strerror(rc)); }
    }
  }
  if (res) uv_freeaddrinfo(res);
  sock_release(s);
}

static sock *check_sock(lua_State *L) {
  sock **p = luaL_checkudata(L, 1, SOCK_MT);
  if (!*p) luaL_error(L, "pikku.socket: closed");
  return *p;
}

static int immediate_fail(lua_State *L, sock *s, const char *kind, const char *msg) {
  pk__host *h = op_end(s);
  if (h) pk__host_unref(h);
  lua_pushnil(L);
  lua_pushstring(L, kind);
  lua_pushstring(L, msg);
  return 3;
}

static int busy(lua_State *L, sock *s) {
  if (s->op != OP_NONE) return luaL_error(L, "pikku.socket: busy (another operation waits on this socket)");
  return 0;
}

/* new() -> a socket, not connected */
static int l_new(lua_State *L) {
  uv_loop_t *loop = pk__ob_loop(L, "pikku.socket");
  sock **p = lua_newuserdata(L, sizeof *p);
  *p = NULL;
  sock *s = calloc(1, sizeof *s);
  if (!s) return luaL_error(L, "out of memory");
  *p = s;
  luaL_getmetatable(L, SOCK_MT);
  lua_setmetatable(L, -2);
  s->h = pk__host_upvalue(L);
  s->loop = loop;
  s->refs = 2;   /* userdata + timer */
  pk__buf_init(&s->plain);
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  return 1;
}

/* s:connect(token, host, port, timeout_ms): resumed with true or (nil, kind, message). */
static int l_connect(lua_State *L) {
  sock *s = check_sock(L);
  busy(L, s);
  double token = luaL_checknumber(L, 2);
  const char *host = luaL_checkstring(L, 3);
  int port = (int)luaL_checkinteger(L, 4);
  double ms = luaL_checknumber(L, 5);
  if (s->tcp_open || s->closed) return luaL_error(L, "pikku.socket: already connected (make a new socket)");
  s->port = port;
  struct sockaddr_storage addr;
  op_begin(s, OP_CONNECT, token, ms);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) == 0 ||
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) == 0) {
    int rc = connect_addr(s, (struct sockaddr *)&addr);
    if (rc) { shut(s); return immediate_fail(L, s, "refused", uv_strerror(rc)); }
    return 0;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  s->op = OP_RESOLVE;
  s->gai.data = s;
  s->refs++;
  int rc = uv_getaddrinfo(s->loop, &s->gai, on_resolved, host, NULL, &hints);
  if (rc) { s->refs--; return immediate_fail(L, s, "dns", uv_strerror(rc)); }
  return 0;
}

/* s:send(token, data, timeout_ms): resumed with the byte count or (nil, kind, message). */
static int l_send(lua_State *L) {
  sock *s = check_sock(L);
  busy(L, s);
  double token = luaL_checknumber(L, 2);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  double ms = luaL_checknumber(L, 4);
  if (!s->connected || s->closed) { lua_pushnil(L); lua_pushstring(L, "closed"); lua_pushstring(L, "closed"); return 3; }
  op_begin(s, OP_WRITE, token, ms);
  if (s->ssl) {
    if (len && SSL_write(s->ssl, data, (int)len) <= 0) { ERR_clear_error(); shut(s); return immediate_fail(L, s, "tls", "write failed"); }
    int rc = flush_wbio(s, 1);
    if (rc) { shut(s); return immediate_fail(L, s, "closed", uv_strerror(rc)); }
    if (BIO_ctrl_pending(s->wbio) == 0 && len == 0) { pk__host *h = op_end(s); if (h) pk__host_unref(h); lua_pushnumber(L, 0); return 1; }
    return 0;
  }
  wreq *w = malloc(sizeof *w + len);
  if (!w) return luaL_error(L, "out of memory");
  memcpy(w->data, data, len);
  w->s = s;
  w->len = len ? len : 1;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  s->refs++;
  int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_written);
  if (rc) { s->refs--; free(w); shut(s); return immediate_fail(L, s, "closed", uv_strerror(rc)); }
  return 0;
}

/* s:read(token, timeout_ms): resumed with the next bytes received (a string) or (nil, kind, message). */
static int l_read(lua_State *L) {
  sock *s = check_sock(L);
  busy(L, s);
  double token = luaL_checknumber(L, 2);
  double ms = luaL_checknumber(L, 3);
  if (!s->connected || s->closed) { lua_pushnil(L); lua_pushstring(L, "closed"); lua_pushstring(L, "closed"); return 3; }
  op_begin(s, OP_READ, token, ms);
  int rc = start_reading(s);
  if (rc) return immediate_fail(L, s, "closed", uv_strerror(rc));
  return 0;
}

/* s:handshake(token, server_name|nil, verify, timeout_ms): TLS on the connection; resumed with
 * true or (nil, "tls", message). */
static int l_handshake(lua_State *L) {
  sock *s = check_sock(L);
  busy(L, s);
  double token = luaL_checknumber(L, 2);
  const char *name = lua_tostring(L, 3);
  int verify = lua_toboolean(L, 4);
  double ms = luaL_checknumber(L, 5);
  if (!s->connected || s->closed) { lua_pushnil(L); lua_pushstring(L, "closed"); lua_pushstring(L, "closed"); return 3; }
  if (s->ssl) return luaL_error(L, "pikku.socket: the TLS handshake was done already");
  if (!ssl_ctx) {
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ssl_ctx) return luaL_error(L, "pikku.socket: cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ssl_ctx);
    if (ssl_ca_file[0] && !SSL_CTX_load_verify_locations(ssl_ctx, ssl_ca_file, NULL))
      return luaL_error(L, "pikku.socket: cannot read the CA file %s", ssl_ca_file);
  }
  s->ssl = SSL_new(ssl_ctx);
  s->rbio = BIO_new(BIO_s_mem());
  s->wbio = BIO_new(BIO_s_mem());
  if (!s->ssl || !s->rbio || !s->wbio) return luaL_error(L, "out of memory");
  SSL_set_bio(s->ssl, s->rbio, s->wbio);
  SSL_set_connect_state(s->ssl);
  if (name && *name) {
    struct in6_addr a;
    int ip = inet_pton(AF_INET, name, &a) == 1 || inet_pton(AF_INET6, name, &a) == 1;
    if (!ip) SSL_set_tlsext_host_name(s->ssl, name);
    if (verify) {
      X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);
      if (ip) X509_VERIFY_PARAM_set1_ip_asc(vp, name); else X509_VERIFY_PARAM_set1_host(vp, name, 0);
    }
  }
  SSL_set_verify(s->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  op_begin(s, OP_HANDSHAKE, token, ms);
  int rc = start_reading(s);
  if (rc) return immediate_fail(L, s, "closed", uv_strerror(rc));
  handshake_step(s);
  return 0;
}

/* s:alive() -> true when connected and the peer has not closed (a pooled socket before reuse). */
static int l_alive(lua_State *L) {
  sock **p = luaL_checkudata(L, 1, SOCK_MT);
  sock *s = *p;
  int alive = s && s->connected && !s->closed && s->op == OP_NONE;
  if (alive) {
    uv_os_fd_t fd;
    char c;
    if (uv_fileno((uv_handle_t *)&s->tcp, &fd) == 0) {
      ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) alive = 0;
      if (n > 0 && !s->ssl) alive = 0;   /* unexpected bytes: the protocol state is unknown */
    }
  }
  lua_pushboolean(L, alive);
  return 1;
}

/* s:cancel(): forgets the operation in flight (not resumed) and closes the connection. */
static int l_cancel(lua_State *L) {
  sock *s = check_sock(L);
  shut(s);
  pk__host *h = op_end(s);
  if (h) pk__host_unref(h);
  return 0;
}

static int l_close(lua_State *L) {
  sock **p = luaL_checkudata(L, 1, SOCK_MT);
  sock *s = *p;
  if (!s) return 0;
  *p = NULL;
  shut(s);
  pk__host *h = op_end(s);
  if (h) pk__host_unref(h);
  uv_close((uv_handle_t *)&s->timer, handle_closed);
  sock_release(s);
  return 0;
}

/* set_ca_file(path): trust this PEM bundle too (before the first handshake). */
static int l_set_ca(lua_State *L) {
  snprintf(ssl_ca_file, sizeof ssl_ca_file, "%s", luaL_checkstring(L, 1));
  if (ssl_ctx) { SSL_CTX_free(ssl_ctx); ssl_ctx = NULL; }
  return 0;
}

int luaopen_pikku_socket_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.socket_c: only inside the pikku host");
  luaL_newmetatable(L, SOCK_MT);
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  const luaL_Reg methods[] = {
    {"connect", l_connect}, {"send", l_send}, {"read", l_read}, {"handshake", l_handshake},
    {"alive", l_alive}, {"cancel", l_cancel}, {"close", l_close}, {NULL, NULL},
  };
  for (const luaL_Reg *m = methods; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, l_new, 1);
  lua_setfield(L, -2, "new");
  lua_pushcfunction(L, l_set_ca);
  lua_setfield(L, -2, "set_ca_file");
  return 1;
}
