/* jobs_store_path.c: finds an app's job store (--jobs-db, $PIKKU_JOBS_DB, APP_DIR/.pikku/jobs.db) and opens it, making its folder. */
#include "jobs_store_path.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_DIR ".pikku"
#define DEFAULT_FILE "jobs.db"

int pk__jobs_store_path(const pk__options *o, char *out, size_t n) {
  const char *env = getenv("PIKKU_JOBS_DB");
  const char *given = o->jobs_db ? o->jobs_db : (env && *env ? env : NULL);
  int len = given ? snprintf(out, n, "%s", given)
                  : snprintf(out, n, "%s/" DEFAULT_DIR "/" DEFAULT_FILE, o->app_dir);
  return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int pk__jobs_store_exists(const char *path) {
  struct stat st;
  return !strcmp(path, ":memory:") || (stat(path, &st) == 0 && S_ISREG(st.st_mode));
}

int pk__jobs_store_open(const pk__options *o, const char *path, pk__job_store **out, char *err, size_t errlen) {
  const char *env = getenv("PIKKU_JOBS_DB");
  if (!o->jobs_db && !(env && *env)) {   /* the default place: APP_DIR/.pikku, private to the user */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/" DEFAULT_DIR, o->app_dir);
    if (mkdir(dir, 0700) && errno != EEXIST) {
      int e = errno;
      snprintf(err, errlen, "job store %s: cannot create the folder %s: %s (choose another place with --jobs-db PATH)",
               path, dir, strerror(e));
      return -e;
    }
  }
  return pk__job_store_open(out, path, err, errlen);
}
