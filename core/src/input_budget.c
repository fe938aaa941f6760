/* input_budget.c: a worker's budget for buffered client input: reservations grown and given back by their holders. */
#include "input_budget.h"
#include <errno.h>

void pk__input_budget_init(pk__input_budget *b, uint64_t limit) {
  b->limit = limit;
  b->used = 0;
  b->refused = 0;
}

int pk__input_reserve(pk__input_budget *b, uint64_t *held, uint64_t want) {
  if (!b || want <= *held) return 0;
  uint64_t more = want - *held;
  if (more > b->limit || b->used > b->limit - more) { b->refused++; return -ENOBUFS; }
  b->used += more;
  *held = want;
  return 0;
}

void pk__input_charge(pk__input_budget *b, uint64_t *held, uint64_t n) {
  if (!b) return;
  b->used += n;
  *held += n;
}

void pk__input_release(pk__input_budget *b, uint64_t *held) {
  if (b) b->used -= *held;   /* a share is never more than what was added to used */
  *held = 0;
}
