/* jobs_store_path.h: where an app's job store lives (--jobs-db, $PIKKU_JOBS_DB, APP_DIR/.pikku/jobs.db) and opening it there. */
#ifndef PK_JOBS_STORE_PATH_H
#define PK_JOBS_STORE_PATH_H
#include <stddef.h>
#include "job_store.h"
#include "options.h"

/* The store's path: --jobs-db, else $PIKKU_JOBS_DB, else APP_DIR/.pikku/jobs.db (":memory:" is
 * the in-memory store). Returns 0 or -ENAMETOOLONG. */
int pk__jobs_store_path(const pk__options *o, char *out, size_t n);
/* 1 when the store at that path exists already (a file), or is ":memory:" (a value). */
int pk__jobs_store_exists(const char *path);
/* Opens the store at path; for the default path, APP_DIR/.pikku is made first (mode 0700) when
 * missing. Returns 0, or a negative errno with one line in err ("job store PATH: ..."). */
int pk__jobs_store_open(const pk__options *o, const char *path, pk__job_store **out, char *err, size_t errlen);
#endif
