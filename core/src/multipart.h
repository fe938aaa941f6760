/* multipart.h: a streaming multipart/form-data parser (RFC 7578): text fields in memory, file parts written to temporary files as they arrive. */
#ifndef PK_MULTIPART_H
#define PK_MULTIPART_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define PK__MULTIPART_MAX_PARTS 100          /* parts of one body; one more: 413 */
#define PK__MULTIPART_MAX_FIELDS (1 << 20)   /* bytes of all text fields together (kept in memory); more: 413 */
#define PK__MULTIPART_MAX_HEADER 8192        /* bytes of one part's header lines; more: 400 */
#define PK__MULTIPART_MAX_BOUNDARY 70        /* RFC 2046 section 5.1.1 */

typedef struct pk__multipart pk__multipart;

/* The boundary of a Content-Type value "multipart/form-data; boundary=..." (quoted or not), in
 * *b (*blen bytes, pointing into ct). Returns 1 when ct is multipart/form-data with a valid
 * boundary, 0 when it is another type, -1 when it is multipart/form-data without a usable one. */
int pk__multipart_boundary(const char *ct, size_t n, const char **b, size_t *blen);

/* A parser for one body. tmpdir: where file parts go (files "pikku-upload-<id>", mode 0600).
 * NULL when out of memory. */
pk__multipart *pk__multipart_new(const char *boundary, size_t blen, const char *tmpdir);
/* Parses the next bytes of the body. Returns 0, or the status to answer (400 malformed, 413 too
 * many parts or fields too large, 500 a temporary file cannot be written); then *why says why and
 * every temporary file is already removed. */
int pk__multipart_feed(pk__multipart *m, const char *data, size_t len, const char **why);
/* The body ended: 0 when it was complete (its closing delimiter seen), else 400 (files removed). */
int pk__multipart_finish(pk__multipart *m, const char **why);
/* Bytes the parser holds in memory now (text fields and the bytes it looks through): what a body
 * being read reserves of the worker's input budget. */
size_t pk__multipart_memory(const pk__multipart *m);
/* The parsed form as JSON: {"fields":[["name","value"],...],"files":[{"field":...,"filename":...,
 * "content_type":...,"size":n,"path":...},...]} (text as UTF-8, a malformed byte as U+FFFD).
 * Returns 0 or -ENOMEM. */
int pk__multipart_json(const pk__multipart *m, pk__buf *out);
/* Number of file parts written so far (tests). */
int pk__multipart_files(const pk__multipart *m);
/* Frees the parser and removes its temporary files (parsed or not). */
void pk__multipart_free(pk__multipart *m);
#endif
