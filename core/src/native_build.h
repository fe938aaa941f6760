/* native_build.h: compiles an app's C sources (APP_DIR/native) into shared objects against pikku.h. */
#ifndef PK_NATIVE_BUILD_H
#define PK_NATIVE_BUILD_H
#include "buf.h"

/* Where an app's libraries are built: APP_DIR/.pikku/native/NAME.so. */
#define PK_NATIVE_OUT_DIR ".pikku/native"

/* Builds every library of APP_DIR/native: each native/NAME.c, and each folder native/NAME/ (its
 * *.c files together), into APP_DIR/.pikku/native/NAME.so with the system compiler ($CC, else cc),
 * the include folder of pikku.h and LuaJIT's; extra arguments from native/NAME.flags (one line,
 * e.g. -lz). only_stale: skip a library whose .so is newer than its sources and headers. The
 * compiler's messages (file:line: error ...) are appended to out. Returns how many libraries were
 * built, or -EIO (a compiler failed: the others were still built), -ENOENT for no native folder is
 * 0. */
int pk__native_build(const char *app_dir, int only_stale, pk__buf *out);
/* The folder holding pikku.h: $PIKKU_INCLUDE_DIR, else the source tree's, compiled in. */
const char *pk__native_include_dir(void);
#endif
