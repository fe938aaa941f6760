/* abandon.c: requests whose client went away while their call waited, told to the runtime at the end of the turn. */
#include "abandon.h"
#include <errno.h>
#include <stdlib.h>

typedef struct gone { pk__host *h; double handle; struct gone *next; } gone;
static gone *head, **tail = &head;

int pk__abandon_later(pk__host *h, double handle) {
  gone *g = malloc(sizeof *g);
  if (!g) return -ENOMEM;
  g->h = h;
  g->handle = handle;
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
    pk__host_abandon(g->h, g->handle);   /* may queue more: the loop takes them too */
    pk__host_unref(g->h);
    free(g);
  }
}
