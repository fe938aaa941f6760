/* schema_internal.h: compiled JSON Schema nodes shared by the schema compiler, validator and checks. */
#ifndef PK_SCHEMA_INTERNAL_H
#define PK_SCHEMA_INTERNAL_H
#include <lua.h>
#include <math.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of Lua values as JSON sees them; also the bits of a node's `type` mask. An empty table is
 * OBJECT|ARRAY, an integral number NUMBER|INTEGER. 0 = not a JSON value. */
enum {
  PK__ST_NULL = 1,
  PK__ST_BOOLEAN = 2,
  PK__ST_OBJECT = 4,
  PK__ST_ARRAY = 8,
  PK__ST_NUMBER = 16,
  PK__ST_STRING = 32,
  PK__ST_INTEGER = 64
};

/* Keywords that can fail on their own: bits of pk__snode.checks and slots of pk__snode.msg. */
enum {
  PK__SK_FALSE,      /* the schema `false` */
  PK__SK_TYPE,
  PK__SK_MINIMUM,
  PK__SK_MAXIMUM,
  PK__SK_XMIN,
  PK__SK_XMAX,
  PK__SK_MULTIPLE,
  PK__SK_MINLEN,
  PK__SK_MAXLEN,
  PK__SK_PATTERN,
  PK__SK_FORMAT,
  PK__SK_ENUM,
  PK__SK_CONST,
  PK__SK_MINITEMS,
  PK__SK_MAXITEMS,
  PK__SK_UNIQUE,
  PK__SK_ANYOF,
  PK__SK_ONEOF,
  PK__SK_NOT,
  PK__SK_PATTERN_LONG,    /* a string too long for a pattern matched by regexec (message only) */
  PK__SK_PATTERN_BUDGET,  /* one validation fed regexec too much text in all (message only) */
  PK__SK_COUNT
};

/* Fixed slots of a validator's environment table (strings the validator pushes without formatting).
 * Slots after PK__SENV_FIRST_FREE hold the per-schema strings and values (property names, messages,
 * enum sets, defaults). */
enum {
  PK__SENV_PATH = 1,        /* "path" */
  PK__SENV_MESSAGE,         /* "message" */
  PK__SENV_REQUIRED,        /* "is required" */
  PK__SENV_NOT_ALLOWED,     /* "is not allowed" */
  PK__SENV_BAD_KEY,         /* "has a key that is not a string" */
  PK__SENV_NOT_JSON,        /* "is not a JSON value" */
  PK__SENV_TOO_DEEP,        /* "is nested too deeply" */
  PK__SENV_NOT_FINITE,      /* "must be a finite number (JSON has no NaN or infinity)" */
  PK__SENV_WHERE,           /* the `where` given to compile */
  PK__SENV_FIRST_FREE
};

/* Formats with a hand-written check; other format names are annotations. */
enum { PK__SF_NONE, PK__SF_EMAIL, PK__SF_UUID, PK__SF_DATE_TIME, PK__SF_DATE, PK__SF_URI };

typedef struct pk__snode pk__snode;

/* A pattern without groups or alternation, compiled to a bit-parallel NFA (schema_check.c), and
 * from that to a DFA when it has few enough state sets and byte classes. */
#define PK__SRE_MAX 64
#define PK__SRE_DFA_MAX 64                /* DFA states (sets of NFA states) */
#define PK__SRE_DFA_CLS 32                /* classes of bytes the pattern cannot tell apart */
#define PK__SRE_DEAD 0xff
typedef struct {
  int n, ncls;              /* states, character classes */
  int anchored_start, anchored_end;
  unsigned char kind[PK__SRE_MAX];       /* 0: exactly one, 1: optional, 2: any number */
  unsigned char state_cls[PK__SRE_MAX];
  uint64_t close[PK__SRE_MAX];           /* epsilon closure of each state (bit n = accept) */
  uint32_t cls[PK__SRE_MAX][8];          /* 256-bit byte sets */
  int dfa_n;                             /* DFA states, 0: none (the NFA runs) */
  unsigned char byte_cls[256];           /* byte -> its class */
  unsigned char dfa_accept[PK__SRE_DFA_MAX];
  unsigned char dfa_next[PK__SRE_DFA_MAX][PK__SRE_DFA_CLS];   /* PK__SRE_DEAD: no match possible */
} pk__sre;

/* One entry of `properties` (or a `required` name without a schema). */
typedef struct {
  const char *name;         /* the Lua string held in the environment (slot `key`) */
  size_t len;
  int key;                  /* environment slot of the name */
  int def;                  /* environment slot of the default value, 0 if none */
  int required;
  int in_props;             /* listed in `properties` (not only in `required`) */
  int req_rank;             /* 1 + its first position in `required`, 0: not required */
  int arg;                  /* schema_ctor.c: its argument's position in the node's constructor */
  pk__snode *schema;        /* NULL: any value */
} pk__sprop;

/* A compiled schema. All fields are read-only once compile returns. */
struct pk__snode {
  pk__snode *next;          /* private: every node of one validator, for freeing */
  unsigned types;           /* PK__ST_* mask; 0 = any type */
  unsigned checks;          /* 1u << PK__SK_* for each keyword present */
  int msg[PK__SK_COUNT];    /* environment slot of the message of each failing keyword */
  double minimum, maximum, xmin, xmax, multiple;
  size_t min_len, max_len, min_items, max_items;
  int format;               /* PK__SF_* */
  int has_re;
  regex_t re;
  pk__sre *fast;            /* the same pattern for pk__sre_match, NULL if it needs regexec */
  int enum_set;             /* slot of a table: scalar enum value -> true */
  int enum_list;            /* slot of an array of the table values of enum, 0 if none */
  int const_val;            /* slot of the const value */
  pk__sprop *props;         /* sorted by name */
  int nprops;
  int nrequired;            /* props with required set */
  int ndefaults;            /* props with a default */
  int prop_set;             /* slot of a table: name in `properties` -> index in props + 1, 0 if none */
  int addl_mode;            /* 0: any extra property, 1: none (false), 2: each must match `addl` */
  pk__snode *addl;
  pk__snode **prefix;       /* prefixItems */
  int nprefix;
  pk__snode *items;         /* NULL: any */
  int items_false;          /* items: false (no items after prefixItems) */
  pk__snode **all, **any, **one;
  int nall, nany, none;
  pk__snode *not_;
  pk__snode *ref;           /* $ref target, applied in addition to the other keywords */
  int mark;                 /* private: the compiler's search for $ref cycles */
  int direct;               /* only keywords schema_decode.c checks: it may decode values of this node */
  unsigned short *dslot;    /* schema_decode.c's hash of the names in props (index + 1, 0: empty) */
  unsigned dmask;           /* its size - 1 */
  uint64_t must[4];         /* schema_decode.c: bit j for props[j] required or with a default (j < 256) */
  int ctor;                 /* environment slot of the node's table constructor (schema_ctor.c), 0: none */
  struct pk__senum_str *estr;  /* schema_ctor.c: the enum's strings (all of them), or NULL */
  int nestr;
};

/* A string of an enum, for schema_decode.c: its bytes (the Lua string in the environment slot). */
struct pk__senum_str { const char *s; size_t len; int slot; };

/* The userdata `compile` returns; its environment table holds the strings and values it uses. */
typedef struct {
  pk__snode *root;
  pk__snode *nodes;         /* private */
  void *blocks;             /* private: arena of arrays */
  int nenv;                 /* private: last used environment slot */
} pk__svalidator;

#define PK__SCHEMA_MT "pikku.schema validator"

/* The most errors one validation lists: the others are only counted, so that a body with 60,000
 * unknown keys gets a 422 of a few KiB, not megabytes (Lua reads it as the validator's third result). */
#define PK__SCHEMA_MAX_LISTED 100

/* Validation (schema_validate.c). The value is at stack index `vi`, the validator's environment at
 * `env`. Returns the number of errors found (all of them: only the first PK__SCHEMA_MAX_LISTED are
 * in the array); when there are some, the errors array is on top of the stack (nothing is pushed
 * otherwise). `fill` writes defaults of absent properties. */
int pk__schema_validate(lua_State *L, const pk__svalidator *v, int env, int vi, int fill);
/* Query-string coercion of the top-level table at `ti` (schema_validate.c). */
void pk__schema_coerce(lua_State *L, const pk__svalidator *v, int ti);
/* Pushes { name = true } for the top-level properties (through $ref and allOf, as coercion goes);
 * with `arrays`, only those that coercion splits on commas (type array, not string). The
 * validator's env table is on top of the stack. */
void pk__schema_top_keys(lua_State *L, const pk__svalidator *v, int arrays);
/* Kind of the value at absolute index i (PK__ST_* bits, 0 = not JSON). */
unsigned pk__schema_kind(lua_State *L, int i);

/* Decoding a JSON body and validating it in one pass (schema_decode.c). prepare marks the nodes it
 * can follow (compile calls it once). decode pushes the decoded value of the n bytes at s and
 * returns 1 when they are a JSON object that v accepts (defaults would not change it); else it
 * pushes nothing and returns 0: the caller decodes and validates the two-pass way, which says what
 * is wrong. The validator's environment is at stack index env, pikku.json_c's markers for arrays
 * and empty objects at array_mt and object_mt. */
void pk__schema_decode_prepare(pk__svalidator *v);
int pk__schema_decode(lua_State *L, const pk__svalidator *v, int env, int array_mt, int object_mt,
                      const char *s, size_t n);

/* After prepare: for each object node the decoder follows (at most PK__SCTOR_MAX properties, no
 * additionalProperties schema), a Lua function kept in the environment (at stack index env) that
 * makes its table from the values of n->props in order (schema_ctor.c). */
#define PK__SCTOR_MAX 64
#define PK__SENUM_STR_MAX 16   /* enums with more strings keep the look-up in enum_set */
void pk__schema_decode_ctors(lua_State *L, pk__svalidator *v, int env);

/* multipleOf: integers exactly; otherwise 0.3 is a multiple of 0.1 despite binary floating point
 * (the quotient may be off by a few units in its last place, relative to its size, never by a
 * whole fraction). */
static inline int pk__smultiple_ok(double d, double m) {
  if (d == floor(d) && m == floor(m) && fabs(d) < 9007199254740992.0) return fmod(d, m) == 0;
  double q = d / m, r = nearbyint(q);
  double tol = fabs(q) * 1e-15 > 1e-9 ? fabs(q) * 1e-15 : 1e-9;
  return fabs(q - r) <= tol;
}

/* Checks (schema_check.c). */
size_t pk__utf8_len(const char *s, size_t n);
int pk__sformat_id(const char *name);
const char *pk__sformat_name(int id);
int pk__sformat_check(int id, const char *s, size_t n);
/* Translates an ECMA-262 style pattern into POSIX ERE that matches UTF-8 code points. Returns 0,
 * -EINVAL with *why set for a pattern it does not take, or -ENOSPC when `cap` is too small (try a
 * larger one). */
#define PK__SPATTERN_MAX_DEPTH 64      /* groups nested in a pattern */
#define PK__SPATTERN_MAX_COPIES 10000  /* items regcomp builds once counted repeats are expanded */
/* regexec (patterns with groups or |) takes time quadratic in the string on some patterns
 * ((x+x+)+y: 20 ms at 4 KiB, 30 s at 200 KiB): a string longer than this is refused unmatched,
 * and so is the text past this total in one validation */
#define PK__SPATTERN_MAX_SUBJECT 4096
#define PK__SPATTERN_MAX_SUBJECTS (64 * 1024)
#define PK__SPATTERN_MAX_OPTIONAL 2000 /* of those, the optional ones ({2,5} makes 3): memory ~ their square */
int pk__spattern_translate(const char *src, size_t n, char *out, size_t cap, const char **why);
/* Compiles a translated (POSIX ERE) pattern for the fast matcher: 0, or -ENOTSUP (-E2BIG: too
 * many states) if it needs regexec. */
int pk__sre_compile(const char *ere, pk__sre *r);
int pk__sre_match(const pk__sre *r, const char *s, size_t n);
/* Pushes a deep copy of the value at i (tables copied to depth 64, metatables kept). */
void pk__schema_push_copy(lua_State *L, int i, int depth);
/* ASCII character classes (the C locale's, without its locale lookups). */
static inline int pk__is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int pk__is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int pk__is_alnum(int c) { return pk__is_digit(c) || pk__is_alpha(c); }
static inline int pk__is_hex(int c) { return pk__is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

#endif
