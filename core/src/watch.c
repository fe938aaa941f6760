/* watch.c: the master's watch over the app folder (--watch, pikku dev): inotify, one watch per folder, debounced. */
#include "watch.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"

/* A save is often several events (an editor's temporary file, a rename, a second write): the
 * reload waits until the folder has been quiet this long. */
#define DEBOUNCE_MS 25
#define MAX_DIRS 4096

#define MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF)

static int fd = -1;
static struct { int wd; char *path; } dirs[MAX_DIRS];
static int ndirs;
static int pending;          /* PK_WATCH_* bits seen since the last due */
static double quiet_at;      /* when the debounce ends */

/* Folders not watched: hidden ones (.git, .pikku where builds go), dependencies. */
static int skipped_dir(const char *name) {
  return name[0] == '.' || !strcmp(name, "node_modules");
}

static void add_tree(const char *path) {
  if (ndirs >= MAX_DIRS) return;
  int wd = inotify_add_watch(fd, path, MASK | IN_ONLYDIR);
  if (wd < 0) {
    pk__logf("warn", "--watch: cannot watch %s: %s", path, strerror(errno));
    return;
  }
  int known = 0;
  for (int i = 0; i < ndirs; i++) if (dirs[i].wd == wd) known = 1;
  if (!known) {
    dirs[ndirs].wd = wd;
    dirs[ndirs].path = strdup(path);
    ndirs++;
  }
  DIR *d = opendir(path);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (skipped_dir(e->d_name)) continue;
    char sub[PATH_MAX];
    if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
    struct stat st;
    if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && !stat(sub, &st) && S_ISDIR(st.st_mode))) add_tree(sub);
  }
  closedir(d);
}

int pk__watch_open(const char *app_dir) {
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    pk__logf("error", "--watch: inotify: %s", strerror(e));
    return -e;
  }
  add_tree(app_dir);
  return 0;
}

int pk__watch_fd(void) { return fd; }

void pk__watch_close(void) {
  if (fd >= 0) close(fd);
  fd = -1;
  for (int i = 0; i < ndirs; i++) free(dirs[i].path);
  ndirs = 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static const char *dir_of(int wd) {
  for (int i = 0; i < ndirs; i++) if (dirs[i].wd == wd) return dirs[i].path;
  return NULL;
}

/* What a changed file is to the app: PK_WATCH_LUA (a .lua file), PK_WATCH_NATIVE (C sources under
 * a native/ folder), or 0 (an editor's swap file, anything else). */
static int kind_of(const char *dir, const char *name) {
  if (name[0] == '.' || ends_with(name, "~")) return 0;
  if (ends_with(name, ".lua")) return PK_WATCH_LUA;
  if ((ends_with(name, ".c") || ends_with(name, ".h")) && dir &&
      (strstr(dir, "/native/") || ends_with(dir, "/native")))
    return PK_WATCH_NATIVE;
  return 0;
}

void pk__watch_read(double now) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      const char *dir = dir_of(ev->wd);
      if (ev->mask & IN_Q_OVERFLOW) { pending |= PK_WATCH_LUA | PK_WATCH_NATIVE; quiet_at = now + DEBOUNCE_MS; continue; }
      if (!ev->len || !dir) continue;
      if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && !skipped_dir(ev->name)) {
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, ev->name) < (int)sizeof sub) add_tree(sub);
        pending |= PK_WATCH_LUA;   /* it may hold modules already */
        quiet_at = now + DEBOUNCE_MS;
        continue;
      }
      int k = kind_of(dir, ev->name);
      if (!k) continue;
      pending |= k;
      quiet_at = now + DEBOUNCE_MS;
    }
  }
}

int pk__watch_timeout(double now, int max_ms) {
  if (!pending) return max_ms;
  double left = quiet_at - now;
  if (left <= 0) return 0;
  return left < max_ms ? (int)left + 1 : max_ms;
}

int pk__watch_due(double now) {
  if (!pending || now < quiet_at) return 0;
  int k = pending;
  pending = 0;
  return k;
}
