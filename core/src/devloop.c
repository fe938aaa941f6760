/* devloop.c: the master's side of the developer loop: --watch, the control socket of `pikku reload`, the pid file. */
#include "devloop.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "clock.h"
#include "control.h"
#include "log.h"
#include "native_build.h"
#include "reload_status.h"
#include "watch.h"

static int reload_wanted;   /* clients that asked since the last reload began */

static int write_pid_file(const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp) return -ENAMETOOLONG;
  FILE *f = fopen(tmp, "w");
  if (!f) return -errno;
  fprintf(f, "%d\n", (int)getpid());
  if (fclose(f) || rename(tmp, path)) {
    int e = errno;
    unlink(tmp);
    return -e;
  }
  return 0;
}

int pk__devloop_build(const pk__options *o) {
  pk__buf out;
  pk__buf_init(&out);
  int rc = pk__native_build(o->app_dir, 1, &out);
  if (out.len) fwrite(out.data, 1, out.len, stderr);
  pk__buf_free(&out);
  if (rc < 0) fprintf(stderr, "pikku: the app's native code does not build (above)\n");
  return rc < 0;
}

int pk__devloop_start(const pk__options *o, int nworkers) {
  if (pk__reload_status_init(nworkers)) pk__logf("warn", "no shared page for reload outcomes: pikku reload cannot tell");
  int rc = pk__control_open();
  if (rc) pk__logf("warn", "no control socket (%s): pikku reload cannot reach this server; SIGHUP still reloads",
                   strerror(-rc));
  if (o->pid_file && (rc = write_pid_file(o->pid_file))) {
    fprintf(stderr, "pikku: cannot write --pid-file %s: %s\n", o->pid_file, strerror(-rc));
    return 1;
  }
  if (o->watch && pk__watch_open(o->app_dir) == 0)
    pk__logf("info", "watching %s: a saved .lua file or native source reloads the app", o->app_dir);
  return 0;
}

void pk__devloop_child(void) {
  pk__control_close();
  pk__watch_close();
}

int pk__devloop_pollfds(struct pollfd *pf, int max) {
  int n = 0;
  if (pk__watch_fd() >= 0 && max > 0) pf[n++] = (struct pollfd){.fd = pk__watch_fd(), .events = POLLIN};
  return n + pk__control_pollfds(pf + n, max - n);
}

int pk__devloop_timeout(int max_ms) { return pk__watch_timeout(pk__clock_ms(), max_ms); }

/* Native sources changed: builds them; 0, or -1 with the compiler's errors logged and kept for the
 * development error page (the app is then not reloaded: its code would not match its library). */
static int rebuild(const char *app_dir) {
  pk__buf out;
  pk__buf_init(&out);
  double t0 = pk__clock_ms();
  int rc = pk__native_build(app_dir, 1, &out);
  if (rc < 0) {
    pk__buf_append(&out, "", 1);
    pk__reload_status_set_error(out.data);   /* first: a request that follows the log line shows it */
    pk__logf("error", "native build failed, keeping the previous code: %s", out.data);
  } else if (rc > 0) {
    pk__logf("info", "built %d native librar%s in %.0f ms", rc, rc == 1 ? "y" : "ies", pk__clock_ms() - t0);
  }
  pk__buf_free(&out);
  return rc < 0 ? -1 : 0;
}

int pk__devloop_serve(const struct pollfd *pf, int n, const pk__options *o) {
  double now = pk__clock_ms();
  int k = 0;
  if (pk__watch_fd() >= 0 && n > 0) {
    if (pf[0].revents) pk__watch_read(now);
    k = 1;
  }
  reload_wanted += pk__control_serve(pf + k, n - k, now);
  int due = pk__watch_fd() >= 0 ? pk__watch_due(now) : 0;
  if (due & PK_WATCH_NATIVE && rebuild(o->app_dir)) due = 0;
  if (due) pk__logf("info", "files changed in %s: reloading", o->app_dir);
  if (!due && !reload_wanted) return 0;
  return 1;
}

void pk__devloop_reloaded(int generation, const char *error, const pid_t *pids, int n) {
  pk__reload_status_set_error(error ? error : "");   /* a load that worked: no error page any more */
  if (reload_wanted) pk__control_begun(generation, error, pids, n);
  reload_wanted = 0;
}

void pk__devloop_tick(const pid_t *pids, int n) { pk__control_check(pids, n, pk__clock_ms()); }

void pk__devloop_stop(const pk__options *o) {
  pk__control_close();
  pk__watch_close();
  if (o->pid_file) unlink(o->pid_file);
}
