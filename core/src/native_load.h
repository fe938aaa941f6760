/* native_load.h: an app's shared objects, each loaded from a fresh private copy, so that a reload picks up a new build. */
#ifndef PK_NATIVE_LOAD_H
#define PK_NATIVE_LOAD_H
#include <stddef.h>

/* Where the library `name` of the app is: APP_DIR/.pikku/native/NAME.so (what pikku build makes),
 * else APP_DIR/NAME.so; a name with dots (a.b) is looked for as a/b.so. 0 with the path, or
 * -ENOENT (err says where it looked). */
int pk__native_find(const char *app_dir, const char *name, char *path, size_t pathlen, char *err, size_t errlen);
/* Copies the library at path to a new private file (in $TMPDIR, else APP_DIR/.pikku), so that
 * dlopen maps this very build even when an older copy of the same library is still loaded (a
 * state a reload replaced, still finishing its calls). copy receives its path; the caller loads
 * it and then removes it (pk__native_forget). 0, or a negative errno with err. */
int pk__native_copy(const char *app_dir, const char *path, char *copy, size_t copylen, char *err, size_t errlen);
/* Removes a copy made by pk__native_copy (a loaded library stays mapped). */
void pk__native_forget(const char *copy);
/* Loads the library `name` of the app (find, copy, dlopen with RTLD_NOW, forget). The handle,
 * closed with dlclose; NULL with err. */
void *pk__native_open(const char *app_dir, const char *name, char *err, size_t errlen);
#endif
