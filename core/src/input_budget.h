/* input_budget.h: a worker's budget for buffered client input (request bodies being read, partial WebSocket messages). */
#ifndef PK_INPUT_BUDGET_H
#define PK_INPUT_BUDGET_H
#include <stdint.h>

/* One per worker (--max-input-buffer). Each holder (a request's body, a WebSocket's open message,
 * bytes kept while a handler runs) keeps its share in a uint64_t of its own and gives it back when
 * it no longer holds the bytes; used is the sum of the shares. */
typedef struct pk__input_budget {
  uint64_t limit;     /* read-only: the most bytes the holders may reserve together */
  uint64_t used;      /* read-only: reserved now */
  uint64_t refused;   /* read-only: reservations refused so far */
} pk__input_budget;

void pk__input_budget_init(pk__input_budget *b, uint64_t limit);
/* Grows the share *held to want bytes (nothing when it holds that much already). Returns 0, or
 * -ENOBUFS when that would take used over limit (*held is then unchanged). b NULL: no budget,
 * always 0 and *held stays as it is. */
int pk__input_reserve(pk__input_budget *b, uint64_t *held, uint64_t want);
/* Adds n bytes to the share *held even past the limit: bytes already in memory that must be kept
 * (they make later reservations fail sooner). */
void pk__input_charge(pk__input_budget *b, uint64_t *held, uint64_t n);
/* Gives the whole share *held back (*held becomes 0). */
void pk__input_release(pk__input_budget *b, uint64_t *held);
#endif
