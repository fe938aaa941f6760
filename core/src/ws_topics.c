/* ws_topics.c: a worker's topic table (topic -> subscribed connections) and each WebSocket's strings. */
#include "ws_topics.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

typedef struct pk__topic {
  char *name;
  size_t len;
  uint32_t hash;
  struct pk__conn **subs;
  pk__ws **sub_ws;
  int nsubs, cap;
  struct pk__topic *next;
} pk__topic;

static pk__topic *table[BUCKETS];

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 16777619u; }
  return h;
}

static pk__topic *find(const char *name, size_t len, uint32_t h) {
  for (pk__topic *t = table[h % BUCKETS]; t; t = t->next)
    if (t->hash == h && t->len == len && memcmp(t->name, name, len) == 0) return t;
  return NULL;
}

static void drop_topic(pk__topic *t) {
  pk__topic **pp = &table[t->hash % BUCKETS];
  while (*pp != t) pp = &(*pp)->next;
  *pp = t->next;
  free(t->name);
  free(t->subs);
  free(t->sub_ws);
  free(t);
}

pk__ws *pk__ws_new(double cid) {
  pk__ws *ws = calloc(1, sizeof *ws);
  if (ws) ws->cid = cid;
  return ws;
}

static void remove_sub(pk__topic *t, pk__ws *ws) {
  for (int i = 0; i < t->nsubs; i++) {
    if (t->sub_ws[i] != ws) continue;
    t->nsubs--;
    t->subs[i] = t->subs[t->nsubs];       /* order of subscribers is not kept */
    t->sub_ws[i] = t->sub_ws[t->nsubs];
    break;
  }
  if (t->nsubs == 0) drop_topic(t);
}

void pk__ws_leave_topics(pk__ws *ws) {
  for (int i = 0; i < ws->ntopics; i++) remove_sub(ws->topics[i], ws);
  ws->ntopics = 0;
}

void pk__ws_free(pk__ws *ws) {
  if (!ws) return;
  pk__ws_leave_topics(ws);
  free(ws->topics);
  for (pk__kv *kv = ws->kv, *next; kv; kv = next) {
    next = kv->next;
    free(kv->key);
    free(kv->value);
    free(kv);
  }
  pk__ws_parser_free(&ws->parser);
  free(ws);
}

int pk__ws_kv_set(pk__ws *ws, const char *key, const char *value, size_t vlen) {
  pk__kv **pp = &ws->kv;
  for (; *pp; pp = &(*pp)->next) if (strcmp((*pp)->key, key) == 0) break;
  if (!value) {
    if (*pp) { pk__kv *kv = *pp; *pp = kv->next; free(kv->key); free(kv->value); free(kv); }
    return 0;
  }
  char *v = malloc(vlen + 1);
  if (!v) return -ENOMEM;
  memcpy(v, value, vlen);
  v[vlen] = 0;
  if (*pp) { free((*pp)->value); (*pp)->value = v; (*pp)->vlen = vlen; return 0; }
  pk__kv *kv = calloc(1, sizeof *kv);
  if (!kv || !(kv->key = strdup(key))) { free(kv); free(v); return -ENOMEM; }
  kv->value = v;
  kv->vlen = vlen;
  *pp = kv;
  return 0;
}

const char *pk__ws_kv_get(const pk__ws *ws, const char *key, size_t *vlen) {
  for (const pk__kv *kv = ws->kv; kv; kv = kv->next)
    if (strcmp(kv->key, key) == 0) { *vlen = kv->vlen; return kv->value; }
  return NULL;
}

int pk__topic_subscribe(struct pk__conn *c, pk__ws *ws, const char *name, size_t len) {
  if (len > PK__WS_MAX_TOPIC_LEN) return -ENAMETOOLONG;
  uint32_t h = hash(name, len);
  pk__topic *t = find(name, len, h);
  if (t)
    for (int i = 0; i < ws->ntopics; i++) if (ws->topics[i] == t) return 0;
  if (ws->ntopics >= PK__WS_MAX_TOPICS) return -E2BIG;
  if (!t) {
    if (!(t = calloc(1, sizeof *t)) || !(t->name = malloc(len + 1))) { free(t); return -ENOMEM; }
    memcpy(t->name, name, len);
    t->name[len] = 0;
    t->len = len;
    t->hash = h;
    t->next = table[h % BUCKETS];
    table[h % BUCKETS] = t;
  }
  if (t->nsubs == t->cap) {
    int cap = t->cap ? t->cap * 2 : 4;
    struct pk__conn **s = realloc(t->subs, sizeof *s * (size_t)cap);
    if (s) t->subs = s;
    pk__ws **w = realloc(t->sub_ws, sizeof *w * (size_t)cap);
    if (w) t->sub_ws = w;
    if (!s || !w) { if (!t->nsubs) drop_topic(t); return -ENOMEM; }
    t->cap = cap;
  }
  if (ws->ntopics == ws->topics_cap) {
    int cap = ws->topics_cap ? ws->topics_cap * 2 : 4;
    pk__topic **p = realloc(ws->topics, sizeof *p * (size_t)cap);
    if (!p) { if (!t->nsubs) drop_topic(t); return -ENOMEM; }
    ws->topics = p;
    ws->topics_cap = cap;
  }
  t->subs[t->nsubs] = c;
  t->sub_ws[t->nsubs++] = ws;
  ws->topics[ws->ntopics++] = t;
  return 0;
}

int pk__topic_unsubscribe(pk__ws *ws, const char *name, size_t len) {
  if (len > PK__WS_MAX_TOPIC_LEN) return -ENAMETOOLONG;
  pk__topic *t = find(name, len, hash(name, len));
  if (!t) return 0;
  for (int i = 0; i < ws->ntopics; i++) {
    if (ws->topics[i] != t) continue;
    ws->topics[i] = ws->topics[--ws->ntopics];
    remove_sub(t, ws);
    return 0;
  }
  return 0;
}

int pk__topic_each(const char *name, size_t len, double exclude_cid,
                   void (*fn)(struct pk__conn *, void *), void *arg) {
  if (len > PK__WS_MAX_TOPIC_LEN) return 0;
  pk__topic *t = find(name, len, hash(name, len));
  if (!t) return 0;
  int n = 0;
  for (int i = 0; i < t->nsubs; i++) {
    if (t->sub_ws[i]->cid == exclude_cid) continue;
    fn(t->subs[i], arg);
    n++;
  }
  return n;
}

