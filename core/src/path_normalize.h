/* path_normalize.h: the request path with its dot segments removed before routing (RFC 3986 section 5.2.4). */
#ifndef PK_PATH_NORMALIZE_H
#define PK_PATH_NORMALIZE_H
#include <stddef.h>
#include "buf.h"

/* Normalises the path of url ("path[?query]", ulen bytes, the path starting with '/'):
 *   - "." and ".." segments are removed as RFC 3986 section 5.2.4 says, also when their dots are
 *     percent-encoded ("%2e", "%2E": unreserved characters, RFC 3986 section 6.2.2.2);
 *   - a ".." that would climb above the root is refused;
 *   - a segment that holds an encoded slash or backslash ("%2F", "%5C") or a raw backslash is
 *     refused when one of the pieces these separate is "." or ".." once decoded
 *     ("/a/..%2Fsecret", "/a/%2e%2e%5Cx"): decoded, it would climb as well.
 * So no segment of the result, and no piece of one after percent-decoding, is "." or "..".
 * Returns NULL and sets *out, *olen: url itself when nothing changed (the common case, no copy),
 * else the normalised path and the query after it in scratch (valid until its next use). Returns
 * the reason for a 400 otherwise. Paths without '.', '%' or '\\' are returned at once. */
const char *pk__path_normalize(const char *url, size_t ulen, pk__buf *scratch, const char **out, size_t *olen);

#endif
