/* hub_jobs.c: encodes and parses the hub's job and schedule frames (one layout for all of them). */
#include "hub_jobs.h"
#include <errno.h>
#include <string.h>

int pk__hub_encode_job(pk__buf *out, const pk__job_frame *f) {
  if (!pk__hub_is_job_type(f->type)) return -EINVAL;
  if (f->nlen > PK_HUB_MAX_FRAME || f->klen > PK_HUB_MAX_FRAME || f->dlen > PK_HUB_MAX_FRAME ||
      PK_HUB_JOB_FIXED + f->nlen + f->klen + f->dlen > PK_HUB_MAX_FRAME)
    return -EMSGSIZE;
  size_t len = PK_HUB_JOB_FIXED + f->nlen + f->klen + f->dlen;
  char *p = pk__buf_space(out, PK_HUB_HEADER + len, NULL);
  if (!p) return -ENOMEM;
  char *q = p;
  pk__hub_put32(q, (uint32_t)len); q += 4;
  *q++ = (char)f->type;
  pk__hub_put32(q, f->req); q += 4;
  pk__hub_put64(q, (uint64_t)f->job); q += 8;
  pk__hub_put32(q, f->attempt); q += 4;
  pk__hub_put32(q, (uint32_t)f->status); q += 4;
  pk__hub_put32(q, f->priority); q += 4;
  pk__hub_put64(q, (uint64_t)f->ms); q += 8;
  *q++ = (char)f->flag;
  pk__hub_put32(q, (uint32_t)f->nlen); q += 4;
  if (f->nlen) memcpy(q, f->name, f->nlen);
  q += f->nlen;
  pk__hub_put32(q, (uint32_t)f->klen); q += 4;
  if (f->klen) memcpy(q, f->key, f->klen);
  q += f->klen;
  if (f->dlen) memcpy(q, f->data, f->dlen);
  pk__buf_commit(out, PK_HUB_HEADER + len);
  return 0;
}

int pk__hub_parse_job(const pk__hub_frame *raw, pk__job_frame *f) {
  if (!pk__hub_is_job_type(raw->type) || raw->body_len < PK_HUB_JOB_FIXED - 1) return -EPROTO;
  const char *b = raw->body, *end = raw->body + raw->body_len;
  memset(f, 0, sizeof *f);
  f->type = raw->type;
  f->req = pk__hub_get32(b); b += 4;
  f->job = (int64_t)pk__hub_get64(b); b += 8;
  f->attempt = pk__hub_get32(b); b += 4;
  f->status = (int32_t)pk__hub_get32(b); b += 4;
  f->priority = pk__hub_get32(b); b += 4;
  f->ms = (int64_t)pk__hub_get64(b); b += 8;
  f->flag = (uint8_t)*b++;
  f->nlen = pk__hub_get32(b); b += 4;
  if (f->nlen > (size_t)(end - b) || (size_t)(end - b) - f->nlen < 4) return -EPROTO;
  f->name = b;
  b += f->nlen;
  f->klen = pk__hub_get32(b); b += 4;
  if (f->klen > (size_t)(end - b)) return -EPROTO;
  f->key = b;
  b += f->klen;
  f->data = b;
  f->dlen = (size_t)(end - b);
  return 0;
}
