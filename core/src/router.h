/* router.h: the routing table: static segments, :params and a trailing *wildcard, per method. */
#ifndef PK_ROUTER_H
#define PK_ROUTER_H
#include <stddef.h>

#define PK_MAX_PARAMS 16

enum { PK_GET, PK_HEAD, PK_POST, PK_PUT, PK_PATCH, PK_DELETE, PK_OPTIONS, PK_METHODS };

typedef struct pk__span { const char *p; size_t n; } pk__span;

typedef struct pk__route_match {
  int index;                        /* the index given to pk__router_add */
  int nparams;                      /* values of :params and *wildcard, in pattern order */
  pk__span params[PK_MAX_PARAMS];
  unsigned allow;                   /* on 405: bit per method wired at the path */
} pk__route_match;

typedef struct pk__router pk__router;

pk__router *pk__router_new(void);
void pk__router_free(pk__router *r);
/* Method name (upper-case) to PK_GET... (a value, not an error code: -1 for a method the router does not know). */
int pk__method_id(const char *name, size_t len);
/* Adds a route. Returns 0, -EINVAL for a bad method or pattern, -EEXIST if already wired;
 * err receives a one-line explanation. */
int pk__router_add(pk__router *r, const char *method, const char *pattern, int index,
                   char *err, size_t errlen);
/* Matches a path (no query). Returns 1 (m->index set), 0 if no route has that path (404),
 * -1 if the path exists for other methods (405, m->allow set). HEAD falls back to GET. */
int pk__router_match(const pk__router *r, int method, const char *path, size_t len,
                     pk__route_match *m);
/* Writes "GET, HEAD, POST" for an allow mask into out (always NUL-terminated). */
void pk__router_allow_str(unsigned allow, char *out, size_t cap);
/* Writes the methods wired at path but OPTIONS ("GET, HEAD, POST"; "" for none) into out: what a
 * CORS preflight on it allows. */
void pk__router_path_methods(const pk__router *r, const char *path, size_t len, char *out, size_t cap);
#endif
