/* native_load.c: an app's shared objects, each loaded from a fresh private copy, so that a reload picks up a new build.
 *
 * dlopen returns the library already loaded for a path, even when the file there was rebuilt
 * since (glibc matches the name first): a state loaded after a rebuild would run the old code as
 * long as any older state, still finishing its calls, holds it. So every load maps a copy under
 * a name used once; the copy is removed at once (the mapping stays), and the library is
 * unloaded when the state that loaded it closes. */
#define _GNU_SOURCE
#include "native_load.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "native_build.h"

int pk__native_find(const char *app_dir, const char *name, char *path, size_t pathlen, char *err, size_t errlen) {
  char rel[PATH_MAX];
  if (!*name || strlen(name) >= sizeof rel || strstr(name, "..") || name[0] == '/') {
    snprintf(err, errlen, "\"%s\" is not a library name (letters, digits, _ and - ; dots for folders)", name);
    return -EINVAL;
  }
  snprintf(rel, sizeof rel, "%s", name);
  for (char *p = rel; *p; p++) if (*p == '.') *p = '/';
  struct stat st;
  if (snprintf(path, pathlen, "%s/%s/%s.so", app_dir, PK_NATIVE_OUT_DIR, rel) < (int)pathlen && !stat(path, &st))
    return 0;
  if (snprintf(path, pathlen, "%s/%s.so", app_dir, rel) < (int)pathlen && !stat(path, &st)) return 0;
  snprintf(err, errlen, "native library \"%s\" not found (looked for %s/%s/%s.so and %s/%s.so): build it with"
           " `pikku build %s` (from %s/native/%s.c)", name, app_dir, PK_NATIVE_OUT_DIR, rel, app_dir, rel, app_dir,
           app_dir, rel);
  return -ENOENT;
}

static int copy_to(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -errno;
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
  if (out < 0) { int e = errno; close(in); return -e; }
  char buf[65536];
  ssize_t r;
  int rc = 0;
  while ((r = read(in, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0) { if (errno == EINTR) continue; rc = -errno; break; }
      off += w;
    }
    if (rc) break;
  }
  if (r < 0) rc = -errno;
  close(in);
  if (close(out) && !rc) rc = -errno;
  if (rc) unlink(to);
  return rc;
}

int pk__native_copy(const char *app_dir, const char *path, char *copy, size_t copylen, char *err, size_t errlen) {
  static unsigned counter;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *tmp = getenv("TMPDIR");
  const char *dirs[2] = {tmp && *tmp ? tmp : "/tmp", NULL};
  char own[PATH_MAX];
  snprintf(own, sizeof own, "%s/.pikku", app_dir);
  dirs[1] = own;
  int rc = -ENOENT;
  for (int i = 0; i < 2; i++) {
    if (i == 1) mkdir(own, 0755);
    if (snprintf(copy, copylen, "%s/pikku-%d-%u-%s", dirs[i], (int)getpid(), ++counter, base) >= (int)copylen) {
      rc = -ENAMETOOLONG;
      continue;
    }
    rc = copy_to(path, copy);
    if (!rc) return 0;
  }
  snprintf(err, errlen, "cannot copy %s to load it: %s", path, strerror(-rc));
  return rc;
}

void pk__native_forget(const char *copy) { unlink(copy); }

void *pk__native_open(const char *app_dir, const char *name, char *err, size_t errlen) {
  char path[PATH_MAX], copy[PATH_MAX];
  if (pk__native_find(app_dir, name, path, sizeof path, err, errlen)) return NULL;
  if (pk__native_copy(app_dir, path, copy, sizeof copy, err, errlen)) return NULL;
  void *h = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    /* a temporary folder mounted noexec: the app's own folder, then */
    if (why && strstr(why, "failed to map") && strncmp(copy, app_dir, strlen(app_dir))) {
      pk__native_forget(copy);
      char own[PATH_MAX];
      snprintf(own, sizeof own, "%s/.pikku/pikku-%d-%s.so", app_dir, (int)getpid(), name);
      if (copy_to(path, own) == 0) {
        h = dlopen(own, RTLD_NOW | RTLD_LOCAL);
        why = h ? NULL : dlerror();
        pk__native_forget(own);
        if (h) return h;
      }
    }
    snprintf(err, errlen, "cannot load native library %s: %s", path, why ? why : "?");
    pk__native_forget(copy);
    return NULL;
  }
  pk__native_forget(copy);
  return h;
}
