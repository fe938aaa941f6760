/* request_target.h: the request target and Host rules (RFC 9112 section 3.2): which targets and Host values are served. */
#ifndef PK_REQUEST_TARGET_H
#define PK_REQUEST_TARGET_H
#include <stddef.h>

/* 1 if v (n bytes) is a valid Host value: uri-host [ ":" port ] (RFC 3986 section 3.2.2), port at
 * most 65535; an empty value is valid (RFC 9112 section 3.2). */
int pk__host_value_ok(const char *v, size_t n);

/* The origin-form "path[?query]" of the request target url (ulen bytes), fragment dropped, in
 * *out / *olen. url must be writable: an absolute-form target without a path ("http://h",
 * "http://h?q") is served as "/" and its last authority byte becomes that "/". Returns NULL, or
 * why the target is refused with 400: userinfo, a bad authority, %00 in the path, not a target.
 * The asterisk-form ("*") comes back as it is; only OPTIONS may use it (the caller checks). */
const char *pk__target_origin(char *url, size_t ulen, const char **out, size_t *olen);

#endif
