/* abandon.c: requests whose call is abandoned while it waits (client gone, time limit, drain), told to the runtime at the end of the turn. */
#include "abandon.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

typedef struct gone { pk__host *h; double handle; int why; struct gone *next; } gone;
static gone *head, **tail = &head;

int pk__abandon_later(pk__host *h, double handle, int why) {
  gone *g = malloc(sizeof *g);
  if (!g) return -ENOMEM;
  g->h = h;
  g->handle = handle;
  g->why = why;
  g->next = NULL;
  *tail = g;
  tail = &g->next;
  pk__host_ref(h);
  return 0;
}

void pk__abandon_flush(void) {
  while (head) {
    gone *g = head;
    head = g->next;
    if (!head) tail = &head;
    pk__host_abandon(g->h, PK_ABANDON_REQUEST, g->handle, g->why);   /* may queue more: the loop takes them too */
    pk__host_unref(g->h);
    free(g);
  }
}

int pk__peer_gone(uv_stream_t *s) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)s, &fd)) return 0;
  char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}
