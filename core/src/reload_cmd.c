/* reload_cmd.c: `pikku reload --pid-file PATH | --pid PID` and `pikku build APP_DIR`, the commands that drive a running server or its native code. */
#include "reload_cmd.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "buf.h"
#include "clock.h"
#include "control.h"
#include "native_build.h"

#define ANSWER_TIMEOUT_MS 120000

static long read_pid(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "pikku: cannot read --pid-file %s: %s (is the server running with --pid-file %s?)\n", path,
            strerror(errno), path);
    return -1;
  }
  long pid = 0;
  if (fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
    fprintf(stderr, "pikku: %s does not hold a process id\n", path);
    pid = -1;
  }
  fclose(f);
  return pid;
}

int pk__reload_cmd(const pk__options *o) {
  long pid = o->reload_pid ? (long)o->reload_pid : read_pid(o->pid_file);
  if (pid <= 0) return 1;
  struct sockaddr_un a;
  socklen_t len = pk__control_address((pid_t)pid, &a);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, len)) {
    fprintf(stderr, "pikku: no pikku server with pid %ld answers (%s): is it running, as this user?\n", pid,
            strerror(errno));
    if (fd >= 0) close(fd);
    return 1;
  }
  static const char cmd[] = "reload\n";
  if (write(fd, cmd, sizeof cmd - 1) != (ssize_t)sizeof cmd - 1) {
    fprintf(stderr, "pikku: cannot ask the server: %s\n", strerror(errno));
    close(fd);
    return 1;
  }
  pk__buf in;
  pk__buf_init(&in);
  double until = pk__clock_ms() + ANSWER_TIMEOUT_MS;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    double left = until - pk__clock_ms();
    if (left <= 0) break;
    if (poll(&p, 1, (int)left) <= 0) continue;
    char buf[4096];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    pk__buf_append(&in, buf, (size_t)r);
  }
  close(fd);
  pk__buf_append(&in, "", 1);
  int rc = 1;
  char *nl = strchr(in.data, '\n');
  if (!strncmp(in.data, "ok ", 3)) {
    if (nl) *nl = 0;
    printf("pikku: reloaded: %s\n", in.data + 3);
    rc = 0;
  } else if (!strncmp(in.data, "error", 5)) {
    const char *detail = nl ? nl + 1 : "";
    if (nl) *nl = 0;
    fprintf(stderr, "pikku: reload failed (%s); the previous code keeps serving:\n%s", in.data + (in.data[5] ? 6 : 5),
            detail);
    if (!*detail || detail[strlen(detail) - 1] != '\n') fputc('\n', stderr);
  } else {
    fprintf(stderr, "pikku: the server gave no answer within %d s\n", ANSWER_TIMEOUT_MS / 1000);
  }
  pk__buf_free(&in);
  return rc;
}

int pk__build_cmd(const pk__options *o) {
  pk__buf out;
  pk__buf_init(&out);
  double t0 = pk__clock_ms();
  int rc = pk__native_build(o->app_dir, 0, &out);
  if (out.len) fwrite(out.data, 1, out.len, stderr);
  pk__buf_free(&out);
  if (rc < 0) {
    fprintf(stderr, "pikku build: failed\n");
    return 1;
  }
  if (rc == 0) printf("pikku build: nothing to build (no C sources in %s/native)\n", o->app_dir);
  else printf("pikku build: %d librar%s in %s/%s (%.0f ms)\n", rc, rc == 1 ? "y" : "ies", o->app_dir,
              PK_NATIVE_OUT_DIR, pk__clock_ms() - t0);
  return 0;
}
