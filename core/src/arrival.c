/* arrival.c: when a request's bytes arrived, also while the loop was held: the kernel's receive timestamp after a stall. */
#include "arrival.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "clock.h"

static uint64_t stall_end_ms;   /* when the last turn that held the loop too long ended */

void pk__arrival_enable(uv_os_fd_t fd) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

void pk__arrival_turn_end(uv_loop_t *loop) {
  uint64_t now = pk__clock_ms(), start = uv_now(loop);
  if (now > start + PK__ARRIVAL_STALL_MS) stall_end_ms = now;
}

uint64_t pk__arrival_ns(uv_stream_t *s, uint64_t *now_out) {
  uint64_t now = pk__clock_ns();
  *now_out = now;
  uint64_t held = now / 1000000 > uv_now(s->loop) ? now / 1000000 - uv_now(s->loop) : 0;
  /* the bytes of a read soon after a stall (also on a connection accepted after it) may have
   * waited through it: only then is the kernel asked, so a loop that keeps up pays nothing */
  if (held < PK__ARRIVAL_STALL_MS && now / 1000000 > stall_end_ms + PK__ARRIVAL_AFTER_MS) return now;
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)s, &fd)) return now;
  char byte;
  struct iovec iov = { &byte, 1 };
  union { char buf[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } ctl;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof ctl.buf;
  if (recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT) <= 0) return now;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec ts, real;
    memcpy(&ts, CMSG_DATA(c), sizeof ts);
    clock_gettime(CLOCK_REALTIME, &real);
    int64_t ago = ((int64_t)real.tv_sec - ts.tv_sec) * 1000000000 + (real.tv_nsec - ts.tv_nsec);
    if (ago <= 0 || ago > 600LL * 1000000000) return now;   /* a clock step: keep now */
    return now - (uint64_t)ago;
  }
  return now;
}
