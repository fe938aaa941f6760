/* lua_pg.c: the pikku.pg_c module: one PostgreSQL connection per object on libpq's asynchronous API, polled by the worker's loop. */
#include "lua_modules.h"
#include <arpa/inet.h>
#include <lauxlib.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "outbound.h"
#include "pg_cancel.h"

#define CONN_MT "pikku.pg.conn"
#define MAX_PARAMS 65535
#define MAX_KW 32

enum { ST_IDLE, ST_RESOLVING, ST_CONNECTING, ST_QUERY, ST_DEAD };

typedef struct pgconn pgconn;
typedef struct pgpoll { uv_poll_t p; pgconn *c; } pgpoll;

/* A connection; one operation (connect or a query) at a time. Freed when the userdata, the timer,
 * the poll handle and a name resolution in flight have all let go of it (refs). */
struct pgconn {
  PGconn *pg;
  pk__host *h;
  uv_loop_t *loop;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  pgpoll *poll;             /* watches PQsocket (a new one when the socket changes) */
  int poll_fd;
  int poll_events;          /* what it watches: READABLE from connected to closed, idle too */
  double token;
  int busy;                 /* a call waits on the operation (the host is pinned) */
  int state;
  int refs;
  PGresult *res;            /* the query's result so far (its first error wins) */
  int json_ref;             /* JSON decoder for json/jsonb columns */
  char *kw[MAX_KW], *val[MAX_KW];   /* connection parameters kept while the name resolves */
  char err[300];
};

static void conn_release(pgconn *c) {
  if (--c->refs > 0) return;
  for (int i = 0; i < MAX_KW; i++) { free(c->kw[i]); free(c->val[i]); }
  free(c);
}

static void timer_closed(uv_handle_t *t) { conn_release(t->data); }
static void poll_closed(uv_handle_t *p) {
  pgpoll *pp = p->data;
  pgconn *c = pp->c;
  free(pp);
  conn_release(c);
}

static void poll_drop(pgconn *c) {
  if (!c->poll) return;
  uv_poll_stop(&c->poll->p);
  uv_close((uv_handle_t *)&c->poll->p, poll_closed);
  c->poll = NULL;
  c->poll_fd = -1;
  c->poll_events = 0;
}

/* Closes the server connection at once (the poll stops before libpq closes the socket). A query
 * still running is stopped on the server too (a cancel request, pg_cancel.c): closing its
 * connection alone would leave it running there until it ends or sends something. */
static void drop(pgconn *c) {
  poll_drop(c);
  if (c->res) { PQclear(c->res); c->res = NULL; }
  if (c->pg) {
    if (c->state == ST_QUERY) pk__pg_cancel_send(c->loop, c->pg);   /* -EINVAL: not open any more */
    PQfinish(c->pg);
    c->pg = NULL;
  }
  c->state = ST_DEAD;
}

static pk__host *op_end(pgconn *c) {
  if (!c->busy) return NULL;
  c->busy = 0;
  uv_timer_stop(&c->timer);
  return c->h;
}

static void op_fail4(pgconn *c, const char *kind, const char *msg, const char *sqlstate) {
  double token = c->token;
  pk__host *h = op_end(c);
  if (!h) return;
  lua_State *L = h->L;
  lua_pushnil(L);
  lua_pushstring(L, kind);
  lua_pushstring(L, msg);
  if (sqlstate) lua_pushstring(L, sqlstate); else lua_pushnil(L);
  pk__host_resume(h, token, 4);
  pk__host_unref(h);
}

/* libpq's message without its trailing newline. */
static const char *pq_message(pgconn *c) {
  snprintf(c->err, sizeof c->err, "%s", c->pg ? PQerrorMessage(c->pg) : "no connection");
  size_t n = strlen(c->err);
  while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == ' ')) c->err[--n] = 0;
  return c->err;
}

static void on_poll(uv_poll_t *p, int status, int events);

/* Watches the socket for events. Each change costs an epoll_ctl or two (libuv drops the fd from
 * epoll when a poll stops or restarts), so none is made when the events stay the same: once
 * connected the poll stays on READABLE, between queries too, and WRITABLE comes only while
 * PQflush has output the kernel did not take. */
static void watch(pgconn *c, int events) {
  int fd = PQsocket(c->pg);
  if (fd < 0) return;
  if (c->poll && c->poll_fd != fd) poll_drop(c);
  if (c->poll && c->poll_events == events) return;
  if (!c->poll) {
    pgpoll *pp = malloc(sizeof *pp);
    if (!pp) return;
    if (uv_poll_init(c->loop, &pp->p, fd)) { free(pp); return; }
    pp->c = c;
    pp->p.data = pp;
    c->poll = pp;
    c->poll_fd = fd;
    c->refs++;
    uv_unref((uv_handle_t *)&pp->p);   /* an idle connection does not keep the loop running */
  }
  c->poll_events = events;
  uv_poll_start(&c->poll->p, events, on_poll);
}

/* Between queries the poll keeps watching READABLE: the server has nothing to say to an idle
 * connection but that it is going (an error, then the end of the stream: a restart, a
 * terminated backend, an idle timeout), which drops it at once (on_poll), so the pool never
 * lends a dead one. */
static void idle(pgconn *c) {
  c->state = ST_IDLE;
  watch(c, UV_READABLE);
}

static void connect_step(pgconn *c) {
  switch (PQconnectPoll(c->pg)) {
  case PGRES_POLLING_READING: watch(c, UV_READABLE); return;
  case PGRES_POLLING_WRITING: watch(c, UV_WRITABLE); return;
  case PGRES_POLLING_OK: {
    PQsetnonblocking(c->pg, 1);
    idle(c);
    double token = c->token;
    pk__host *h = op_end(c);
    if (!h) return;
    lua_pushboolean(h->L, 1);
    pk__host_resume(h, token, 1);
    pk__host_unref(h);
    return;
  }
  default: {
    const char *msg = pq_message(c);
    char m[sizeof c->err];
    snprintf(m, sizeof m, "%s", msg);
    drop(c);
    op_fail4(c, strstr(m, "password") || strstr(m, "authentication") ? "auth" : "refused", m, NULL);
  }
  }
}

/* ---- results as Lua values ------------------------------------------------------------------ */

/* type OIDs of the built-in types converted (pg_type.h) */
enum { BOOLOID = 16, BYTEAOID = 17, INT8OID = 20, INT2OID = 21, INT4OID = 23, OIDOID = 26,
       JSONOID = 114, FLOAT4OID = 700, FLOAT8OID = 701, NUMERICOID = 1700, JSONBOID = 3802 };

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

static void push_value(lua_State *L, pgconn *c, Oid type, const char *v, int len) {
  switch (type) {
  case BOOLOID: lua_pushboolean(L, v[0] == 't'); return;
  case INT2OID: case INT4OID: case OIDOID: lua_pushnumber(L, (lua_Number)strtoll(v, NULL, 10)); return;
  case INT8OID: {
    long long n = strtoll(v, NULL, 10);
    if (n > (1LL << 53) || n < -(1LL << 53)) lua_pushlstring(L, v, (size_t)len);   /* not exact as a double */
    else lua_pushnumber(L, (lua_Number)n);
    return;
  }
  case FLOAT4OID: case FLOAT8OID: case NUMERICOID: lua_pushnumber(L, strtod(v, NULL)); return;
  case JSONOID: case JSONBOID:
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->json_ref);
    lua_pushlstring(L, v, (size_t)len);
    if (lua_pcall(L, 1, 1, 0)) { lua_pop(L, 1); lua_pushlstring(L, v, (size_t)len); }
    return;
  case BYTEAOID:
    if (len >= 2 && v[0] == '\\' && v[1] == 'x') {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 2; i + 1 < len; i += 2) luaL_addchar(&b, (char)(hexval(v[i]) * 16 + hexval(v[i + 1])));
      luaL_pushresult(&b);
      return;
    }
    break;
  }
  lua_pushlstring(L, v, (size_t)len);
}

/* Pushes rows (a list of tables keyed by column name; NULL columns absent) and the affected count. */
static void push_result(lua_State *L, pgconn *c, PGresult *r) {
  int nrows = PQntuples(r), ncols = PQnfields(r);
  lua_checkstack(L, ncols + 8);
  int base = lua_gettop(L);
  for (int j = 0; j < ncols; j++) lua_pushstring(L, PQfname(r, j));
  lua_createtable(L, nrows, 0);
  for (int i = 0; i < nrows; i++) {
    lua_createtable(L, 0, ncols);
    for (int j = 0; j < ncols; j++) {
      if (PQgetisnull(r, i, j)) continue;
      lua_pushvalue(L, base + 1 + j);
      push_value(L, c, PQftype(r, j), PQgetvalue(r, i, j), PQgetlength(r, i, j));
      lua_rawset(L, -3);
    }
    lua_rawseti(L, -2, i + 1);
  }
  if (ncols > 0) {   /* the rows replace the column names */
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
  }
  const char *n = PQcmdTuples(r);
  lua_pushnumber(L, n && *n ? strtod(n, NULL) : nrows);
}

static void query_done(pgconn *c) {
  PGresult *r = c->res;
  c->res = NULL;
  idle(c);
  if (!c->busy) { PQclear(r); return; }
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
    double token = c->token;
    pk__host *h = op_end(c);
    push_result(h->L, c, r);
    PQclear(r);
    pk__host_resume(h, token, 2);
    pk__host_unref(h);
    return;
  }
  char msg[sizeof c->err];
  const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (primary) snprintf(msg, sizeof msg, "%s%s%s", primary, detail ? " (" : "", detail ? detail : "");
  else snprintf(msg, sizeof msg, "%s", pq_message(c));
  if (detail && strlen(msg) + 1 < sizeof msg) strcat(msg, ")");
  char sqlstate[8] = "";
  if (state) snprintf(sqlstate, sizeof sqlstate, "%s", state);
  PQclear(r);
  op_fail4(c, !strcmp(sqlstate, "57014") ? "timeout" : "pg", msg, sqlstate[0] ? sqlstate : NULL);
}

static void query_read(pgconn *c) {
  if (!PQconsumeInput(c->pg)) {
    char m[sizeof c->err];
    snprintf(m, sizeof m, "%s", pq_message(c));
    c->state = ST_DEAD;   /* the connection is lost: no query to cancel */
    drop(c);
    op_fail4(c, "closed", m, NULL);
    return;
  }
  while (!PQisBusy(c->pg)) {
    PGresult *r = PQgetResult(c->pg);
    if (!r) { query_done(c); return; }
    int err = PQresultStatus(r) == PGRES_FATAL_ERROR;
    if (!c->res || (err && PQresultStatus(c->res) != PGRES_FATAL_ERROR)) {
      if (c->res) PQclear(c->res);
      c->res = r;
    } else {
      PQclear(r);
    }
  }
}

static void query_flush(pgconn *c) {
  int rc = PQflush(c->pg);
  if (rc < 0) {
    char m[sizeof c->err];
    snprintf(m, sizeof m, "%s", pq_message(c));
    c->state = ST_DEAD;   /* the connection is lost: no query to cancel */
    drop(c);
    op_fail4(c, "closed", m, NULL);
    return;
  }
  watch(c, rc ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

/* Readable while idle: what libpq reads is parsed (a notice, a parameter status, the server's
 * FATAL before it goes); a connection found broken is dropped (no query runs: nothing to cancel). */
static void idle_read(pgconn *c) {
  if (PQconsumeInput(c->pg)) {
    PQisBusy(c->pg);   /* parses what came (notices go to libpq's notice processor) */
    PGnotify *n;
    while ((n = PQnotifies(c->pg))) PQfreemem(n);
    if (PQstatus(c->pg) != CONNECTION_BAD) return;
  }
  drop(c);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  pgpoll *pp = p->data;
  pgconn *c = pp->c;
  if (status < 0) c->poll_events = 0;   /* POLLERR: libuv stopped the poll */
  if (c->state == ST_CONNECTING) { connect_step(c); return; }
  if (c->state == ST_IDLE) {
    idle_read(c);
    if (c->state == ST_IDLE) watch(c, UV_READABLE);
    return;
  }
  if (c->state != ST_QUERY) return;
  if (events & UV_WRITABLE) { query_flush(c); if (c->state != ST_QUERY) return; }
  if ((events & UV_READABLE) || status < 0) query_read(c);
  if (c->state == ST_QUERY && !c->poll_events) watch(c, UV_READABLE);   /* restarted after POLLERR */
}

static void on_timeout(uv_timer_t *t) {
  pgconn *c = t->data;
  if (!c->busy) return;
  int connecting = c->state == ST_CONNECTING || c->state == ST_RESOLVING;
  drop(c);   /* a query still running is cancelled on the server, and the connection goes */
  op_fail4(c, "timeout", connecting ? "cannot connect to PostgreSQL in time" : "no answer from PostgreSQL in time", NULL);
}

static void op_begin(pgconn *c, double token, double ms) {
  c->busy = 1;
  c->token = token;
  pk__host_ref(c->h);
  uv_timer_start(&c->timer, on_timeout, pk__ob_ms(ms), 0);
}

/* libpq's notices as its default processor has them (stderr), except while the connection is
 * idle: what the server says then is why it is closing it (a FATAL error, "terminating connection
 * due to administrator command"), and the connection is dropped (idle_read) without a word. */
static void on_notice(void *arg, const char *msg) {
  pgconn *c = arg;
  if (c->state != ST_IDLE) fputs(msg, stderr);
}

/* Starts connecting with the parameters in c->kw/val. Returns 0, or -1 with c->err set. */
static int start_connect(pgconn *c) {
  c->pg = PQconnectStartParams((const char *const *)c->kw, (const char *const *)c->val, 0);
  if (!c->pg) { snprintf(c->err, sizeof c->err, "out of memory"); return -1; }
  PQsetNoticeProcessor(c->pg, on_notice, c);
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    pq_message(c);
    PQfinish(c->pg);
    c->pg = NULL;
    return -1;
  }
  c->state = ST_CONNECTING;
  watch(c, UV_WRITABLE);
  return 0;
}

static int set_param(pgconn *c, const char *k, const char *v) {
  for (int i = 0; i < MAX_KW - 1; i++) {
    if (c->kw[i] && strcmp(c->kw[i], k)) continue;
    if (!c->kw[i] && !(c->kw[i] = strdup(k))) return -1;
    free(c->val[i]);
    return (c->val[i] = strdup(v)) ? 0 : -1;
  }
  return -1;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  pgconn *c = req->data;
  char ip[64] = "";
  if (status == 0 && res) {
    if (res->ai_family == AF_INET) uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
    else uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
  }
  if (res) uv_freeaddrinfo(res);
  if (c->busy && c->state == ST_RESOLVING) {
    if (status) { c->state = ST_DEAD; op_fail4(c, "dns", uv_strerror(status), NULL); }
    else if (set_param(c, "hostaddr", ip) || start_connect(c)) { c->state = ST_DEAD; op_fail4(c, "refused", c->err, NULL); }
  }
  conn_release(c);
}

static pgconn *check_conn(lua_State *L) {
  pgconn **p = luaL_checkudata(L, 1, CONN_MT);
  if (!*p) luaL_error(L, "pikku.pg: the connection is closed");
  return *p;
}

/* connect(params, token, timeout_ms, json_decode) -> conn: params is a table of libpq connection
 * keywords (host, port, dbname, user, password, options, ...). A host name is resolved through
 * libuv first (libpq would resolve it blocking). The call waiting on token is resumed with true
 * or (nil, kind, message). A failure known at once returns (nil, kind, message) instead. */
static int l_connect(lua_State *L) {
  uv_loop_t *loop = pk__ob_loop(L, "pikku.pg");
  luaL_checktype(L, 1, LUA_TTABLE);
  double token = luaL_checknumber(L, 2);
  double ms = luaL_checknumber(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  pgconn **p = lua_newuserdata(L, sizeof *p);
  *p = NULL;
  pgconn *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "out of memory");
  *p = c;
  luaL_getmetatable(L, CONN_MT);
  lua_setmetatable(L, -2);
  c->h = pk__host_upvalue(L);
  c->loop = loop;
  c->poll_fd = -1;
  c->refs = 2;   /* userdata + timer */
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  lua_pushvalue(L, 4);
  c->json_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  const char *host = NULL;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
      const char *k = lua_tostring(L, -2);
      if (set_param(c, k, lua_tostring(L, -1))) return luaL_error(L, "pikku.pg: too many connection parameters");
      if (!strcmp(k, "host")) host = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
  }
  set_param(c, "client_encoding", "UTF8");
  op_begin(c, token, ms);
  struct in6_addr a6;
  int literal = !host || host[0] == '/' || inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
  int rc = 0;
  const char *kind = "refused";
  if (literal) {
    rc = start_connect(c);
  } else {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    c->state = ST_RESOLVING;
    c->refs++;
    int e = uv_getaddrinfo(loop, &c->gai, on_resolved, host, NULL, &hints);
    if (e) { c->refs--; rc = -1; kind = "dns"; snprintf(c->err, sizeof c->err, "%s", uv_strerror(e)); }
  }
  if (rc) {
    c->state = ST_DEAD;
    pk__host *h = op_end(c);
    if (h) pk__host_unref(h);
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, c->err);
    return 3;
  }
  return 1;
}

enum { Q_TEXT, Q_PREPARED, Q_PREPARE };

/* The three ways to send: a statement with parameters, a prepared one by name, or preparing one. */
static int send_query(lua_State *L, int how) {
  pgconn *c = check_conn(L);
  double token = luaL_checknumber(L, 2);
  double ms = luaL_checknumber(L, 3);
  const char *sql = luaL_checkstring(L, 4);   /* the statement's name for Q_PREPARED */
  if (how == Q_PREPARE) {
    const char *name = luaL_checkstring(L, 5);
    if (c->busy || c->state != ST_IDLE || !c->pg) return luaL_error(L, "pikku.pg: the connection is busy or closed");
    if (!PQsendPrepare(c->pg, name, sql, 0, NULL)) {
      char m[sizeof c->err];
      snprintf(m, sizeof m, "%s", pq_message(c));
      if (PQstatus(c->pg) == CONNECTION_BAD) drop(c);
      lua_pushnil(L);
      lua_pushstring(L, c->state == ST_DEAD ? "closed" : "pg");
      lua_pushstring(L, m);
      return 3;
    }
    c->state = ST_QUERY;
    op_begin(c, token, ms);
    query_flush(c);
    lua_pushboolean(L, 1);
    return 1;
  }
  int n = (int)luaL_checkinteger(L, 5);
  if (c->busy || c->state != ST_IDLE || !c->pg)
    return luaL_error(L, "pikku.pg: the connection is %s", c->state == ST_DEAD ? "closed" : "in use by another query");
  if (n < 0 || n > MAX_PARAMS) return luaL_error(L, "pikku.pg: from 0 to %d parameters", MAX_PARAMS);
  const char **vals = n ? malloc(sizeof *vals * (size_t)n) : NULL;
  int *lens = n ? malloc(sizeof *lens * (size_t)n) : NULL;
  if (n && (!vals || !lens)) { free(vals); free(lens); return luaL_error(L, "out of memory"); }
  for (int i = 0; i < n; i++) {
    size_t len = 0;
    vals[i] = lua_isnoneornil(L, 6 + i) ? NULL : lua_tolstring(L, 6 + i, &len);
    lens[i] = (int)len;
  }
  int ok = how == Q_PREPARED ? PQsendQueryPrepared(c->pg, sql, n, vals, lens, NULL, 0)
                             : PQsendQueryParams(c->pg, sql, n, NULL, vals, lens, NULL, 0);
  free(vals);
  free(lens);
  if (!ok) {
    char m[sizeof c->err];
    snprintf(m, sizeof m, "%s", pq_message(c));
    if (PQstatus(c->pg) == CONNECTION_BAD) drop(c);
    lua_pushnil(L);
    lua_pushstring(L, c->state == ST_DEAD ? "closed" : "pg");
    lua_pushstring(L, m);
    return 3;
  }
  c->state = ST_QUERY;
  op_begin(c, token, ms);
  query_flush(c);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:query(token, timeout_ms, sql, nparams, p1, ...): parameters are strings or nil (NULL);
 * resumed with (rows, affected) or (nil, kind, message, sqlstate). */
static int l_query(lua_State *L) { return send_query(L, Q_TEXT); }
/* conn:query_prepared(token, timeout_ms, name, nparams, p1, ...): the same with a statement
 * prepared on this connection. */
static int l_query_prepared(lua_State *L) { return send_query(L, Q_PREPARED); }
/* conn:prepare(token, timeout_ms, sql, name): prepares sql as name; resumed with a result or failure. */
static int l_prepare(lua_State *L) { return send_query(L, Q_PREPARE); }

/* conn:alive() -> true while it may take a query. */
static int l_alive(lua_State *L) {
  pgconn **p = luaL_checkudata(L, 1, CONN_MT);
  pgconn *c = *p;
  lua_pushboolean(L, c && c->pg && c->state == ST_IDLE && PQstatus(c->pg) == CONNECTION_OK);
  return 1;
}

/* conn:in_transaction() -> true when a transaction is open (or failed) on it. */
static int l_in_tx(lua_State *L) {
  pgconn *c = check_conn(L);
  int st = c->pg ? PQtransactionStatus(c->pg) : PQTRANS_UNKNOWN;
  lua_pushboolean(L, st == PQTRANS_INTRANS || st == PQTRANS_INERROR);
  return 1;
}

/* conn:cancel(): forgets the operation in flight (its call is not resumed) and drops the connection;
 * a query running is cancelled on the server (pg_cancel.c). */
static int l_cancel(lua_State *L) {
  pgconn **p = luaL_checkudata(L, 1, CONN_MT);
  pgconn *c = *p;
  if (!c) return 0;
  drop(c);
  pk__host *h = op_end(c);
  if (h) pk__host_unref(h);
  return 0;
}

static int l_close(lua_State *L) {
  pgconn **p = luaL_checkudata(L, 1, CONN_MT);
  pgconn *c = *p;
  if (!c) return 0;
  *p = NULL;
  drop(c);
  pk__host *h = op_end(c);
  if (h) pk__host_unref(h);
  luaL_unref(L, LUA_REGISTRYINDEX, c->json_ref);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
  conn_release(c);
  return 0;
}

int luaopen_pikku_pg_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.pg_c: only inside the pikku host");
  luaL_newmetatable(L, CONN_MT);
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  const luaL_Reg methods[] = {
    {"query", l_query}, {"query_prepared", l_query_prepared}, {"prepare", l_prepare}, {"alive", l_alive}, {"in_transaction", l_in_tx}, {"cancel", l_cancel},
    {"close", l_close}, {NULL, NULL},
  };
  for (const luaL_Reg *m = methods; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, l_connect, 1);
  lua_setfield(L, -2, "connect");
  return 1;
}
