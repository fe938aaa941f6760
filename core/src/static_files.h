/* static_files.h: static routes (pikku.wire_static): files beneath a directory, found by file descriptor, never above it. */
#ifndef PK_STATIC_FILES_H
#define PK_STATIC_FILES_H
#include <stddef.h>
#include "host.h"
#include "http_conn.h"
#include "router.h"

typedef struct pk__static_dir {
  int fd;            /* read-only: the directory (O_PATH), every lookup starts from it */
  char *index;       /* read-only: served for a directory ("index.html"), or NULL: 404 */
  long max_age;      /* read-only: Cache-Control max-age in seconds, -1: no Cache-Control */
  int immutable;     /* read-only: ", immutable" after it */
  int spa;           /* read-only: a missing path whose last segment has no '.' gets the root's index */
  int precompressed; /* read-only: a "NAME.br" / "NAME.gz" beside NAME is sent to a client that accepts it */
  int dotfiles;      /* read-only: names starting with '.' are served (else 404, but .well-known) */
} pk__static_dir;

/* Opens `path` (a directory) for a static route. Returns NULL with err filled. */
pk__static_dir *pk__static_dir_new(const char *path, char *err, size_t errlen);
void pk__static_dir_free(pk__static_dir *d);

/* Opens rel (a relative path, no NUL) beneath the directory dirfd, never above it: openat2(2) with
 * RESOLVE_BENEATH (symlinks inside the directory are followed, ".." and symlinks that leave it
 * fail with EXDEV) and RESOLVE_NO_MAGICLINKS; on a kernel without openat2 (before 5.6), component
 * by component with O_NOFOLLOW, so no symlink at all is followed. Returns an fd or a negative errno. */
int pk__open_beneath(int dirfd, const char *rel, int flags);

/* Percent-decodes a path param into out (cap bytes, NUL-terminated). Returns its length, or -1
 * when it does not fit or holds a NUL. */
long pk__path_decode(const char *s, size_t n, char *out, size_t cap);

/* Answers a GET or HEAD on a static route: its last param (the wildcard) names the file beneath
 * h's directory for route m->index. path: the normalised request path (plen bytes), its query
 * (qlen bytes, '?' included) right after it. Logs the answer. */
void pk__static_serve(pk__conn *c, pk__host *h, const pk__route_match *m, const char *path, size_t plen,
                      size_t qlen);
#endif
