/* mime.h: the Content-Type of a file served from disk, by its extension. */
#ifndef PK_MIME_H
#define PK_MIME_H
#include <stddef.h>

/* The media type for a file name (the part after its last '.', case-insensitive), text types with
 * "; charset=utf-8"; "application/octet-stream" for an unknown or missing extension. */
const char *pk__mime_type(const char *name, size_t n);
#endif
