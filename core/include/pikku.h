/* pikku.h: the one public C header of the pikku host: every exported pk_ function (api.c, native_func.c). */
#ifndef PIKKU_H
#define PIKKU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Versions ====
 * The API below is versioned: a new minor version only adds; a new major version may change or
 * remove. A library built against this header records the version it was built for (the weak
 * symbol below, one per library whatever the number of files including this header); the host
 * refuses to load a library of native functions built for another major version, and one built
 * for a newer minor version than its own, with a message saying to rebuild it (pikku build). */
#define PK_API_MAJOR 1
#define PK_API_MINOR 0
#define PK_API_VERSION (PK_API_MAJOR * 1000 + PK_API_MINOR)
#if !defined(PIKKU_HOST_BUILD) && defined(__GNUC__)
__attribute__((weak, visibility("default"))) const int pk_library_api_version = PK_API_VERSION;
#endif

/* The API version of the running host (PK_API_VERSION of the header it was built with). */
int pk_api_version(void);

/* ==== For extension authors (LuaJIT FFI or Lua C modules) ==== */

/* The host's version string, e.g. "0.1.0". */
const char *pk_version(void);

/* Monotonic time in milliseconds (the event loop's cached time when inside a worker). */
double pk_now_ms(void);

/* Writes one log line at level "info", "warn" or "error" in the format in force. */
void pk_log(const char *level, const char *message);

/* ==== Native functions (pikku.native_func; docs/native.md) ====
 *
 * A native function is a C function of an app's shared object, wired like any pikku.func:
 *
 *   int my_function(pk_call *call);
 *
 * It runs after the pipeline (session, middleware, auth, input validation against its schema,
 * permissions) on the worker's thread, in the call's time: it must not block, and it cannot be
 * interrupted (pk_time_left_ms says how much of its time limit is left). It reads the validated
 * input and the session, builds its result with the pk_out_ calls, and returns PK_OK; or fails
 * with `return pk_error(call, "NotFound", "no such book", "{\"id\":3}");`. Every pointer these calls
 * return stays valid until the function returns. None of them may be used after it returned or
 * from another thread. */

typedef struct pk_call pk_call;
typedef int (*pk_native_fn)(pk_call *call);

#define PK_OK 0
#define PK_FAIL (-1)

/* What a value is (pk_type). PK_NONE: no value there. */
enum { PK_NONE = 0, PK_NULL, PK_BOOLEAN, PK_NUMBER, PK_STRING, PK_ARRAY, PK_OBJECT };
/* Where pk_type and the readers look (their `from`). */
enum { PK_INPUT = 0, PK_SESSION = 1 };

/* Reading. `ptr` is a JSON Pointer (RFC 6901) into the input or the session: "" is the whole value,
 * "/title" a field, "/rows/0/id" a field of an array's first element ("~1" stands for "/" and "~0"
 * for "~" in a key). */
int pk_type(pk_call *call, int from, const char *ptr);
/* The string at ptr (its length in *len when len is not NULL), or NULL when it is not a string. */
const char *pk_string(pk_call *call, int from, const char *ptr, size_t *len);
/* The number at ptr, or dflt. */
double pk_number(pk_call *call, int from, const char *ptr, double dflt);
/* The boolean at ptr (1 or 0), or dflt. */
int pk_boolean(pk_call *call, int from, const char *ptr, int dflt);
/* The number of elements of the array, or of keys of the object, at ptr (0 for anything else). */
size_t pk_count(pk_call *call, int from, const char *ptr);
/* The key number i (from 0) of the object at ptr, in an order that does not change during the
 * call, or NULL (its length in *len when len is not NULL). Linear in i: for small objects. */
const char *pk_key(pk_call *call, int from, const char *ptr, size_t i, size_t *len);
/* The value at ptr as JSON text (its length in *len when len is not NULL), or NULL. */
const char *pk_json(pk_call *call, int from, const char *ptr, size_t *len);

/* The result: one value, written in order. Containers are opened with pk_out_object or
 * pk_out_array and closed with pk_out_end; inside an object each value follows its pk_out_key.
 * A result that is not JSON (an image, CSV) is pk_out_bytes with its media type. No result at all
 * answers 204 over HTTP. The calls return 0, or -EINVAL when misused (the call then fails with a
 * 500 naming the misuse). */
int pk_out_object(pk_call *call);
int pk_out_array(pk_call *call);
int pk_out_end(pk_call *call);
int pk_out_key(pk_call *call, const char *key, size_t len);
int pk_out_string(pk_call *call, const char *s, size_t len);
int pk_out_number(pk_call *call, double n);
int pk_out_integer(pk_call *call, int64_t n);
int pk_out_boolean(pk_call *call, int b);
int pk_out_null(pk_call *call);
/* A value given as JSON text (-EINVAL when it is not valid JSON). */
int pk_out_json(pk_call *call, const char *json, size_t len);
/* The whole result as raw bytes, sent with this Content-Type over HTTP (a string elsewhere). */
int pk_out_bytes(pk_call *call, const char *data, size_t len, const char *content_type);

/* Fails the call with a pikku error: name is one of pikku.errors ("NotFound", "Forbidden",
 * "UnprocessableContent"...; an unknown name is a 500), message says what went wrong, payload is
 * JSON text or NULL. Returns PK_FAIL, for `return pk_error(...)`. */
int pk_error(pk_call *call, const char *name, const char *message, const char *payload_json);
/* A log line of this call (carrying its errorId), level "debug", "info", "warn" or "error". */
void pk_call_log(pk_call *call, const char *level, const char *message);
/* Publishes JSON text to a topic's subscribers on every worker (services.eventhub:publish).
 * Returns the number of subscribers on this worker, or a negative errno (-EINVAL: not JSON or a
 * bad topic; -ENOBUFS: the hub refused it). */
int pk_publish(pk_call *call, const char *topic, const char *json, size_t len);
/* Milliseconds left of the call's time limit (negative once over it); a very large number when it
 * has none. A long computation checks it and stops in time. */
double pk_time_left_ms(pk_call *call);

/* ==== For the runtime's FFI path only (lua/pikku/host.lua) ====
 * The calls every request makes, called through LuaJIT FFI instead of the classic Lua C API so
 * the JIT can compile through them (see docs/internals.md for the meaning of each argument). Not
 * for extensions: their arguments follow the runtime's request handles and may change with it. */

/* The call a worker runs now (call_guard.c): the runtime says when a call's code starts or goes on
 * (enter: its request handle or channel id, 0 for none; when it started, pk_now_ms(); its time
 * limit in ms, 0 for none; its label) and when it yields or ends (leave); and the call's errorId
 * once it has one (id). The core stops a call over its limit, names it in a crash report, and
 * applies the memory ceiling to calls only. */
void pk_rt_call_enter(double handle, double cid, double started_ms, double limit_ms, int label);
void pk_rt_call_leave(void);
void pk_rt_call_id(const char *id, size_t len);
/* Registers a label ("GET /x: function \"f\" (app.lua:12)") and returns its number (>= 1; the same
 * text always gets the same number), 0 when out of memory. */
int pk_rt_label(const char *text, size_t len);

/* Answers the request `handle`: 0, or -ENOENT when it is gone. Pointer/length pairs may be NULL/0. */
int pk_rt_respond(double handle, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                  const char *extra, size_t elen, const char *error_id, size_t idlen);
/* A request header (case-insensitive; repeated headers joined with ", ", Cookie with "; "), or
 * NULL. The value stays valid until the next call; *vlen receives its length. */
const char *pk_rt_header(double handle, const char *name, size_t nlen, size_t *vlen);
/* Milliseconds on the core's monotonic clock (what pikku.core.now returns): the runtime times every
 * call with it (lua/pikku/loop_guard.lua). */
double pk_rt_now_ms(void);
/* The start of a call, in pk_rt_now_ms's milliseconds: the clock reading taken when the read
 * that completed its request began, for the first call that read starts (the request's bytes were
 * read microseconds before, and nothing else ran between); else the clock read now. */
double pk_rt_call_start_ms(void);
/* The same clock at the kernel's tick (CLOCK_MONOTONIC_COARSE): never ahead of pk_rt_now_ms, behind
 * it by up to pk_rt_coarse_res_ms, and about four times cheaper to read. */
double pk_rt_now_coarse_ms(void);
double pk_rt_coarse_res_ms(void);

#ifdef __cplusplus
}
#endif
#endif
