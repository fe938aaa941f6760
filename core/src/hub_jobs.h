/* hub_jobs.h: the hub's job and schedule frames (types 2..11): one layout, encode and parse. */
#ifndef PK_HUB_JOBS_H
#define PK_HUB_JOBS_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "hub.h"

/* Every job frame has the same layout after the type byte (big-endian), whichever fields its type
 * uses (the others are 0 / empty): req u32, job u64 (signed), attempt u32, status i32, priority u32,
 * ms i64, flag u8, name length u32, name, key length u32, key, then the data (the rest of the
 * frame). docs/hub.md lists what each type puts in which field. */
#define PK_HUB_JOB_FIXED (1 + 4 + 8 + 4 + 4 + 4 + 8 + 1 + 4 + 4)

typedef struct pk__job_frame {
  int type;               /* PK_HUB_JOB_ADD ... PK_HUB_JOB_COUNTS */
  uint32_t req;           /* ADD, ADDED, GET, COUNTS, INFO: the worker's request number */
  int64_t job;            /* RUN, RESULT, PROGRESS: the store's job id */
  uint32_t attempt;       /* RUN, RESULT, PROGRESS: the attempt (1 = first) */
  int32_t status;         /* ADDED, INFO: 0 or -errno; RESULT, TICK_DONE: PK_OUTCOME_* */
  uint32_t priority;      /* ADD */
  int64_t ms;             /* ADD: delay; RUN: timeout; TICK, TICK_DONE: execution time (epoch ms) */
  uint8_t flag;           /* ADDED: 1 when the key already named a job; TICK: 1 for a catch-up run */
  const char *name;       /* ADD, GET, COUNTS, RUN: the queue; TICK, TICK_DONE: the schedule */
  size_t nlen;
  const char *key;        /* ADD (empty: none), ADDED, GET, RUN: the job id (the store's key) */
  size_t klen;
  const char *data;       /* ADD, RUN: the job's data (JSON); ADDED: an error message; INFO: the job
                           * as JSON (empty: no such job); RESULT: the result (JSON) or the error
                           * message; PROGRESS: JSON; TICK_DONE: the error or skip reason */
  size_t dlen;
} pk__job_frame;

/* How a run ended (RESULT and TICK_DONE status). */
enum {
  PK_OUTCOME_OK = 0,
  PK_OUTCOME_FAIL = 1,      /* failed: retried per the queue's settings (a schedule: an error) */
  PK_OUTCOME_DISCARD = 2,   /* failed, no retry (wire.queue.discard) */
  PK_OUTCOME_SKIPPED = 3,   /* a schedule's run called wire.scheduled_task.skip */
};

/* Appends the frame for f to out. Returns 0, -EINVAL (a type that is not a job frame), -EMSGSIZE
 * (over PK_HUB_MAX_FRAME) or -ENOMEM. */
int pk__hub_encode_job(pk__buf *out, const pk__job_frame *f);
/* Reads a job frame's fields; the pointers point into the frame. Returns 0 or -EPROTO. */
int pk__hub_parse_job(const pk__hub_frame *raw, pk__job_frame *f);
/* 1 when type is one of the job frames. A value, not an error code. */
static inline int pk__hub_is_job_type(int type) { return type >= PK_HUB_JOB_ADD && type <= PK_HUB_JOB_COUNTS; }
#endif
