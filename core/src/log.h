/* log.h: access and error log lines (text or JSON) to stderr, buffered and flushed per loop turn. */
#ifndef PK_LOG_H
#define PK_LOG_H
#include <stddef.h>

enum { PK_LOG_TEXT, PK_LOG_JSON };

/* worker: 0 for the master. access: 0 turns the per-request line off. */
void pk__log_setup(int format, int access, int worker);
int pk__log_access_enabled(void);
int pk__log_json(void);   /* 1 under --log-format json */
/* One access line (buffered; written at the end of the loop's turn). method: a string constant
 * (llhttp's name, or "-"): its length is remembered by address. */
void pk__log_access(const char *method, const char *path, size_t path_len, int status, double ms,
                    const char *error_id, size_t id_len);
/* level: "info", "warn", "error". error_id may be NULL. */
void pk__log_msg(const char *level, const char *msg, size_t len, const char *error_id, size_t id_len);
/* printf-style message at a level, written at once (used outside the request path). */
void pk__logf(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pk__log_flush(void);
/* How much of the len buffered bytes at p one write takes: whole lines of at most cap bytes (PIPE_BUF
 * when stderr is a pipe, which takes that much in one piece: the workers share stderr, and a larger
 * write could be cut into by another's); a single longer line goes whole. */
size_t pk__log_next_write(const char *p, size_t len, size_t cap);
#endif
