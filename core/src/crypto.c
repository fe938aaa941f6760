/* crypto.c: hashing, HMAC, PBKDF2, random bytes and base64url for Lua (placeholder until it lands). */
#include <lua.h>

/* Puts the `pikku.crypto_c` C module in package.preload of L. */
void pk__crypto_open(lua_State *L) { (void)L; }
