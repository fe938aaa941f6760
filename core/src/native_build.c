/* native_build.c: compiles an app's C sources (APP_DIR/native) into shared objects against pikku.h. */
#include "native_build.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_SOURCES 256
#define MAX_ARGS 320

const char *pk__native_include_dir(void) {
  const char *d = getenv("PIKKU_INCLUDE_DIR");
  return d && *d ? d : PIKKU_INCLUDE_DIR;
}

typedef struct {
  char name[256];
  char *sources[MAX_SOURCES];   /* .c files */
  int nsources;
  char dir[PATH_MAX];           /* where its headers are (native/ or native/NAME/) */
} library;

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n > m && !strcmp(s + n - m, suffix);
}

static double mtime_of(const char *path) {
  struct stat st;
  if (stat(path, &st)) return -1;
  return (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
}

/* The newest .h/.flags in dir (not below), and the .c files too when with_c; or -1. */
static double newest_in(const char *dir, int with_c) {
  double newest = -1;
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!(with_c && ends_with(e->d_name, ".c")) && !ends_with(e->d_name, ".h") && !ends_with(e->d_name, ".flags"))
      continue;
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
    double m = mtime_of(p);
    if (m > newest) newest = m;
  }
  closedir(d);
  return newest;
}

static int name_ok(const char *name) {
  if (!*name) return 0;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return 0;
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The libraries of APP_DIR/native; returns how many (at most max). */
static int find_libraries(const char *native, library *libs, int max) {
  int n = 0;
  DIR *d = opendir(native);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.') continue;
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", native, e->d_name) >= (int)sizeof p) continue;
    struct stat st;
    if (stat(p, &st)) continue;
    library *l = &libs[n];
    memset(l, 0, sizeof *l);
    if (S_ISREG(st.st_mode) && ends_with(e->d_name, ".c")) {
      size_t len = strlen(e->d_name) - 2;
      if (len >= sizeof l->name) continue;
      memcpy(l->name, e->d_name, len);
      l->name[len] = 0;
      l->sources[l->nsources++] = strdup(p);
      snprintf(l->dir, sizeof l->dir, "%s", native);
    } else if (S_ISDIR(st.st_mode) && strlen(e->d_name) < sizeof l->name) {
      snprintf(l->name, sizeof l->name, "%s", e->d_name);
      snprintf(l->dir, sizeof l->dir, "%s", p);
      DIR *sd = opendir(p);
      struct dirent *se;
      while (sd && (se = readdir(sd)) && l->nsources < MAX_SOURCES) {
        if (se->d_name[0] == '.' || !ends_with(se->d_name, ".c")) continue;
        char sp[PATH_MAX];
        if (snprintf(sp, sizeof sp, "%s/%s", p, se->d_name) < (int)sizeof sp) l->sources[l->nsources++] = strdup(sp);
      }
      if (sd) closedir(sd);
      if (!l->nsources) continue;
      qsort(l->sources, (size_t)l->nsources, sizeof *l->sources, cmp_str);
    } else {
      continue;
    }
    if (!name_ok(l->name)) {
      for (int i = 0; i < l->nsources; i++) free(l->sources[i]);
      continue;
    }
    n++;
  }
  closedir(d);
  return n;
}

/* Runs argv, its output (stdout and stderr) appended to out; returns the exit status, or -errno. */
static int run(char **argv, pk__buf *out) {
  int fds[2];
  if (pipe(fds)) return -errno;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc) { close(fds[0]); return -rc; }
  char buf[4096];
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0) pk__buf_append(out, buf, (size_t)r);
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Splits the first line of path into whitespace-separated words, appended to argv. */
static int add_flags(const char *path, char **argv, int argc, char *store, size_t storelen) {
  FILE *f = fopen(path, "r");
  if (!f) return argc;
  if (!fgets(store, (int)storelen, f)) store[0] = 0;
  fclose(f);
  for (char *save = NULL, *w = strtok_r(store, " \t\r\n", &save); w && argc < MAX_ARGS - 2;
       w = strtok_r(NULL, " \t\r\n", &save))
    argv[argc++] = w;
  return argc;
}

static int build_one(const char *app_dir, const char *native, library *l, int only_stale, pk__buf *out) {
  char so[PATH_MAX], tmp[PATH_MAX], flags[PATH_MAX], flagline[1024];
  if (snprintf(so, sizeof so, "%s/%s/%s.so", app_dir, PK_NATIVE_OUT_DIR, l->name) >= (int)sizeof so ||
      snprintf(flags, sizeof flags, "%s/%s.flags", native, l->name) >= (int)sizeof flags ||
      snprintf(tmp, sizeof tmp, "%s/%s/.%s.so.tmp-%d", app_dir, PK_NATIVE_OUT_DIR, l->name, (int)getpid()) >= (int)sizeof tmp)
    return -ENAMETOOLONG;
  if (only_stale) {
    double built = mtime_of(so);
    int folder = strcmp(l->dir, native) != 0;
    /* a folder's library: everything in it; a file's: that file. The headers (and .flags) of
     * native/ itself serve every library. */
    double src = folder ? newest_in(l->dir, 1) : mtime_of(l->sources[0]);
    double shared = newest_in(native, 0);
    char hdr[PATH_MAX];
    snprintf(hdr, sizeof hdr, "%s/pikku.h", pk__native_include_dir());
    double api = mtime_of(hdr);
    if (built >= 0 && built >= src && built >= shared && built >= api) return 0;
  }
  char inc_pikku[PATH_MAX + 2], inc_luajit[PATH_MAX + 2], inc_native[PATH_MAX + 2];
  snprintf(inc_pikku, sizeof inc_pikku, "-I%s", pk__native_include_dir());
  snprintf(inc_luajit, sizeof inc_luajit, "-I%s", PIKKU_LUAJIT_INCLUDE_DIR);
  snprintf(inc_native, sizeof inc_native, "-I%s", native);
  char *argv[MAX_ARGS];
  int argc = 0;
  const char *cc = getenv("CC");
  argv[argc++] = (char *)(cc && *cc ? cc : "cc");
  argv[argc++] = "-shared";
  argv[argc++] = "-fPIC";
  argv[argc++] = "-O2";
  argv[argc++] = "-g";
  argv[argc++] = "-Wall";
  argv[argc++] = inc_pikku;
  argv[argc++] = inc_luajit;
  argv[argc++] = inc_native;
  argv[argc++] = "-o";
  argv[argc++] = tmp;
  for (int i = 0; i < l->nsources && argc < MAX_ARGS - 20; i++) argv[argc++] = l->sources[i];
  argc = add_flags(flags, argv, argc, flagline, sizeof flagline);
  argv[argc] = NULL;
  int rc = run(argv, out);
  if (rc == 0 && rename(tmp, so)) rc = -errno;
  if (rc) {
    unlink(tmp);
    if (rc < 0) {
      char line[PATH_MAX + 128];
      int n = snprintf(line, sizeof line, "%s: cannot run the compiler %s: %s\n", l->sources[0], argv[0], strerror(-rc));
      pk__buf_append(out, line, (size_t)n);
    }
    return -EIO;
  }
  return 1;
}

int pk__native_build(const char *app_dir, int only_stale, pk__buf *out) {
  char native[PATH_MAX], outdir[PATH_MAX];
  snprintf(native, sizeof native, "%s/native", app_dir);
  struct stat st;
  if (stat(native, &st) || !S_ISDIR(st.st_mode)) return 0;
  static library libs[64];
  int n = find_libraries(native, libs, 64);
  if (!n) return 0;
  snprintf(outdir, sizeof outdir, "%s/.pikku", app_dir);
  mkdir(outdir, 0755);
  snprintf(outdir, sizeof outdir, "%s/%s", app_dir, PK_NATIVE_OUT_DIR);
  if (mkdir(outdir, 0755) && errno != EEXIST) {
    char line[PATH_MAX + 64];
    int k = snprintf(line, sizeof line, "%s: cannot create it: %s\n", outdir, strerror(errno));
    pk__buf_append(out, line, (size_t)k);
    for (int i = 0; i < n; i++) for (int s = 0; s < libs[i].nsources; s++) free(libs[i].sources[s]);
    return -EIO;
  }
  int built = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    int rc = build_one(app_dir, native, &libs[i], only_stale, out);
    if (rc == -ENAMETOOLONG) pk__buf_append_str(out, "native: a path is too long\n");
    if (rc < 0) failed = 1; else built += rc;
    for (int s = 0; s < libs[i].nsources; s++) free(libs[i].sources[s]);
  }
  return failed ? -EIO : built;
}
