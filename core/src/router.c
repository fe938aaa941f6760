/* router.c: a segment trie; at each level a static segment beats :param, which beats *wildcard. */
#include "router.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
  char *seg;               /* static segment text (children of statics) */
  size_t seglen;
  struct node **statics;
  int nstatic;
  struct node *param;      /* child for ":name" */
  struct node *wild;       /* child for "*name" (always a leaf) */
  int handlers[PK_METHODS];/* route index per method, 0 = none */
  int any;                 /* some handler is set here */
} node;

struct pk__router { node root; };

static const char *const method_names[PK_METHODS] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

static const size_t method_lens[PK_METHODS] = {3, 4, 4, 3, 5, 6, 7};

int pk__method_id(const char *name, size_t len) {
  for (int i = 0; i < PK_METHODS; i++)   /* lengths first: one memcmp at most, as a rule */
    if (method_lens[i] == len && name[0] == method_names[i][0] && memcmp(method_names[i], name, len) == 0)
      return i;
  return -1;
}


pk__router *pk__router_new(void) { return calloc(1, sizeof(pk__router)); }

static void node_free(node *n) {
  for (int i = 0; i < n->nstatic; i++) { node_free(n->statics[i]); free(n->statics[i]); }
  free(n->statics);
  free(n->seg);
  if (n->param) { node_free(n->param); free(n->param); }
  if (n->wild) { node_free(n->wild); free(n->wild); }
}

void pk__router_free(pk__router *r) {
  if (!r) return;
  node_free(&r->root);
  free(r);
}

static node *static_child(const node *n, const char *s, size_t len) {
  for (int i = 0; i < n->nstatic; i++)
    if (n->statics[i]->seglen == len && memcmp(n->statics[i]->seg, s, len) == 0) return n->statics[i];
  return NULL;
}

static int valid_name(const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
  }
  return 1;
}

int pk__router_add(pk__router *r, const char *method, const char *pattern, int index, char *err, size_t errlen) {
  int m = pk__method_id(method, strlen(method));
  if (m < 0) { snprintf(err, errlen, "unknown method \"%s\"", method); return -EINVAL; }
  if (pattern[0] != '/') { snprintf(err, errlen, "route \"%s\" must start with /", pattern); return -EINVAL; }
  if (index <= 0) { snprintf(err, errlen, "route index must be positive"); return -EINVAL; }
  node *n = &r->root;
  const char *p = pattern + 1, *end = pattern + strlen(pattern);
  if (end > pattern + 1 && end[-1] == '/') end--; /* a trailing slash is ignored */
  while (p < end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *segend = slash ? slash : end;
    size_t len = (size_t)(segend - p);
    if (len > 0 && p[0] == ':') {
      if (!valid_name(p + 1, len - 1)) {
        snprintf(err, errlen, "route \"%s\": bad parameter name \"%.*s\"", pattern, (int)len, p);
        return -EINVAL;
      }
      if (!n->param && !(n->param = calloc(1, sizeof(node)))) return -ENOMEM;
      n = n->param;
    } else if (len > 0 && p[0] == '*') {
      if (!valid_name(p + 1, len - 1)) {
        snprintf(err, errlen, "route \"%s\": bad wildcard name \"%.*s\"", pattern, (int)len, p);
        return -EINVAL;
      }
      if (segend != end) {
        snprintf(err, errlen, "route \"%s\": a wildcard must be the last segment", pattern);
        return -EINVAL;
      }
      if (!n->wild && !(n->wild = calloc(1, sizeof(node)))) return -ENOMEM;
      n = n->wild;
    } else {
      node *c = static_child(n, p, len);
      if (!c) {
        node **s = realloc(n->statics, sizeof(node *) * (size_t)(n->nstatic + 1));
        if (!s) return -ENOMEM;
        n->statics = s;
        if (!(c = calloc(1, sizeof(node)))) return -ENOMEM;
        if (!(c->seg = malloc(len + 1))) { free(c); return -ENOMEM; }
        memcpy(c->seg, p, len);
        c->seg[len] = 0;
        c->seglen = len;
        s[n->nstatic++] = c;
      }
      n = c;
    }
    p = segend + 1;
  }
  if (n->handlers[m]) {
    snprintf(err, errlen, "route \"%s %s\" is wired twice", method, pattern);
    return -EEXIST;
  }
  n->handlers[m] = index;
  n->any = 1;
  return 0;
}

/* The handler of node n for method, or 0 (HEAD falls back to GET). */
static int handler_of(const node *n, int method) {
  if (n->handlers[method]) return n->handlers[method];
  if (method == PK_HEAD) return n->handlers[PK_GET];
  return 0;
}

/* Finds the node for path p..end that has a handler for method, preferring static, then param,
 * then wildcard at each level and backtracking when a branch has no such handler (so with
 * "GET /users/me" and "DELETE /users/:id", DELETE /users/me reaches the param route). */
static const node *find(const node *n, const char *p, const char *end, pk__route_match *m, int method) {
  if (p >= end) {
    if (n->any && handler_of(n, method)) return n;
    if (n->wild && handler_of(n->wild, method) && m->nparams < PK_MAX_PARAMS) {   /* "/files/" matches "/files/ *rest" with an empty value */
      m->params[m->nparams].p = end;
      m->params[m->nparams++].n = 0;
      return n->wild;
    }
    return NULL;
  }
  const char *slash = memchr(p, '/', (size_t)(end - p));
  const char *segend = slash ? slash : end;
  size_t len = (size_t)(segend - p);
  const char *next = slash ? slash + 1 : end;
  const node *c = static_child(n, p, len), *hit;
  int saved = m->nparams;
  if (c && (hit = find(c, next, end, m, method))) return hit;
  m->nparams = saved;
  if (n->param && len > 0 && m->nparams < PK_MAX_PARAMS) {
    m->params[m->nparams].p = p;
    m->params[m->nparams++].n = len;
    if ((hit = find(n->param, next, end, m, method))) return hit;
    m->nparams = saved;
  }
  if (n->wild && handler_of(n->wild, method) && m->nparams < PK_MAX_PARAMS) {
    m->params[m->nparams].p = p;
    m->params[m->nparams++].n = (size_t)(end - p);
    return n->wild;
  }
  return NULL;
}

/* The methods wired at every route that matches path p..end (for 405's Allow). */
static unsigned allow_of(const node *n, const char *p, const char *end) {
  unsigned allow = 0;
  if (p >= end) {
    for (int i = 0; i < PK_METHODS; i++) if (n->handlers[i]) allow |= 1u << i;
    if (n->wild) for (int i = 0; i < PK_METHODS; i++) if (n->wild->handlers[i]) allow |= 1u << i;
    return allow;
  }
  const char *slash = memchr(p, '/', (size_t)(end - p));
  const char *segend = slash ? slash : end;
  size_t len = (size_t)(segend - p);
  const char *next = slash ? slash + 1 : end;
  const node *c = static_child(n, p, len);
  if (c) allow |= allow_of(c, next, end);
  if (n->param && len > 0) allow |= allow_of(n->param, next, end);
  if (n->wild) for (int i = 0; i < PK_METHODS; i++) if (n->wild->handlers[i]) allow |= 1u << i;
  return allow;
}

int pk__router_match(const pk__router *r, int method, const char *path, size_t len, pk__route_match *m) {
  m->index = 0;
  m->nparams = 0;
  m->allow = 0;
  if (len == 0 || path[0] != '/') return 0;
  const char *end = path + len;
  if (len > 1 && end[-1] == '/') end--;
  if (end - path > 1 && end[-1] == '/') return 0;   /* one trailing slash is ignored, not two */
  if (method >= 0 && method < PK_METHODS) {
    const node *n = find(&r->root, path + 1, end, m, method);
    if (n) { m->index = handler_of(n, method); return 1; }
    m->nparams = 0;
  }
  m->allow = allow_of(&r->root, path + 1, end);
  if (!m->allow) return 0;
  if (m->allow & (1u << PK_GET)) m->allow |= 1u << PK_HEAD;
  return -1;
}

void pk__router_allow_str(unsigned allow, char *out, size_t cap) {
  size_t used = 0;
  out[0] = 0;
  for (int i = 0; i < PK_METHODS; i++) {
    if (!(allow & (1u << i))) continue;
    int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", method_names[i]);
    if (w < 0 || (size_t)w >= cap - used) break;
    used += (size_t)w;
  }
}

void pk__router_path_methods(const pk__router *r, const char *path, size_t len, char *out, size_t cap) {
  pk__route_match all;
  pk__router_match(r, -1, path, len, &all);   /* method -1 matches none: allow gets every method */
  pk__router_allow_str(all.allow & ~(1u << PK_OPTIONS), out, cap);
}
