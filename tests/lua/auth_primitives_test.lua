-- Cases for pikku.crypto_c, jwt, cookie_session and password; tests/unit/test_crypto.c runs each as a test.
local crypto = require "pikku.crypto_c"
local jwt = require "pikku.jwt"
local session = require "pikku.cookie_session"
local password = require "pikku.password"
local cjson = require "cjson"

local cases = {}
local function case(name, fn) cases[#cases + 1] = { name = name, fn = fn } end

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
  end
end

-- f(...) must raise an error whose message contains `needle`
local function raises(needle, f, ...)
  local ok, err = pcall(f, ...)
  if ok then error("expected an error containing '" .. needle .. "', got none", 2) end
  if not tostring(err):find(needle, 1, true) then
    error("expected an error containing '" .. needle .. "', got: " .. tostring(err), 2)
  end
end

local function unhex(h) return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
local b64 = crypto.b64url_encode

---------------------------------------------------------------- crypto_c

case("crypto_c: b64url of the RFC 4648 vectors, unpadded, and back", function()
  local vectors = {
    [""] = "", f = "Zg", fo = "Zm8", foo = "Zm9v", foob = "Zm9vYg", fooba = "Zm9vYmE", foobar = "Zm9vYmFy",
  }
  for plain, enc in pairs(vectors) do
    eq(b64(plain), enc, "encode " .. plain)
    eq(crypto.b64url_decode(enc), plain, "decode " .. enc)
  end
  eq(b64("\251\255\191"), "-_-_", "the url-safe letters")
  eq(crypto.b64url_decode("Zg=="), "f", "padding is accepted")
  eq(crypto.b64url_decode("Zm8="), "fo", "padding is accepted")
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  all = table.concat(all)
  eq(crypto.b64url_decode(b64(all)), all, "every byte round trips")
  local big = crypto.random_bytes(100000)
  eq(crypto.b64url_decode(b64(big)), big, "100 kB round trips")
end)

case("crypto_c: b64url_decode rejects what is not canonical base64url", function()
  local bad_ones = {
    "+/+/", "Zm9v/w", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "Zg=", "Zg===", "=Zg=", "Z===", "Zh", "Zm9", "Zm8\0",
  }
  for _, bad in ipairs(bad_ones) do
    local v, err = crypto.b64url_decode(bad)
    eq(v, nil, "decode " .. string.format("%q", bad))
    eq(err, "invalid base64url", "reason")
  end
end)

case("crypto_c: hex, equals, random_bytes", function()
  eq(crypto.hex("\0\1\171\255"), "0001abff", "hex")
  eq(crypto.hex(""), "", "hex of nothing")
  eq(crypto.equals("abc", "abc"), true, "same")
  eq(crypto.equals("abc", "abd"), false, "last byte differs")
  eq(crypto.equals("abc", "abcd"), false, "prefix")
  eq(crypto.equals("", ""), true, "empty")
  eq(crypto.equals("", "a"), false, "empty vs one")
  local a, b = crypto.random_bytes(32), crypto.random_bytes(32)
  eq(#a, 32, "length")
  eq(a ~= b, true, "two draws differ")
  eq(crypto.random_bytes(0), "", "zero bytes")
end)

case("crypto_c: programmer errors raise", function()
  raises("bad argument #4", crypto.pbkdf2_sha256, "p", "s", 1, 0)
  raises("bad argument #4", crypto.pbkdf2_sha256, "p", "s", 1, 1025)
  raises("bad argument #3", crypto.pbkdf2_sha256, "p", "s", 0, 32)
  raises("bad argument #3", crypto.pbkdf2_sha256, "p", "s", 1.5, 32)
  raises("bad argument #1", crypto.random_bytes, -1)
  raises("bad argument #1", crypto.sha256, nil)
  raises("bad argument #2", crypto.equals, "a", {})
end)

---------------------------------------------------------------- jwt

local SECRET = "s3cret-for-tests"

-- A token with any header and payload JSON, HMAC-SHA256-signed with key over the usual input.
local function forge(header_json, payload_json, key)
  local input = b64(header_json) .. "." .. b64(payload_json)
  return input .. "." .. b64(crypto.hmac_sha256(key or SECRET, input))
end

case("jwt: sign then verify returns the claims", function()
  local token = jwt.sign({ sub = "user1", role = "admin", n = 3 }, SECRET)
  eq(select(2, token:gsub("%.", "")), 2, "three parts")
  eq(token:match("^[^.]+"), "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "header")
  local claims, err = jwt.verify(token, SECRET)
  eq(err, nil, "reason")
  eq(claims.sub, "user1", "sub")
  eq(claims.role, "admin", "role")
  eq(claims.n, 3, "n")
  eq(claims.exp, nil, "no exp unless asked")
end)

case("jwt: expires_in adds iat and exp, and exp is enforced", function()
  local input = { sub = "u" }
  local token = jwt.sign(input, SECRET, { expires_in = 60, now = 1000 })
  eq(input.exp, nil, "the caller's table is not changed")
  local claims = jwt.verify(token, SECRET, 1059)
  eq(claims.iat, 1000, "iat")
  eq(claims.exp, 1060, "exp")
  local none, reason = jwt.verify(token, SECRET, 1060)
  eq(none, nil, "at exp")
  eq(reason, "expired", "reason")
  eq(select(2, jwt.verify(jwt.sign({}, SECRET, { expires_in = 60 }), SECRET)), nil, "now defaults to os.time()")
  eq(select(2, jwt.verify(jwt.sign({}, SECRET, { expires_in = 60, now = os.time() - 61 }), SECRET)), "expired",
    "now defaults to os.time()")
end)

case("jwt: verifies a token made elsewhere (the jwt.io example)", function()
  local token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    .. ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    .. ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
  local claims = jwt.verify(token, "your-256-bit-secret")
  eq(claims and claims.name, "John Doe", "name")
  eq(claims.iat, 1516239022, "iat")
end)

do
  local good = jwt.sign({ sub = "u1" }, SECRET)
  local h, p, s = good:match("^([^.]+)%.([^.]+)%.([^.]+)$")
  local other_payload = b64('{"sub":"admin"}')
  -- flip the first character of the signature: still valid base64url, wrong MAC
  local flipped = (s:sub(1, 1) == "A" and "B" or "A") .. s:sub(2)
  -- 32 bytes take 43 characters, the last carrying 2 unused bits; setting one is a second spelling
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local idx = alphabet:find(s:sub(-1), 1, true)
  local respelled = s:sub(1, -2) .. alphabet:sub(idx + 1, idx + 1)

  local rejections = {
    { "not three parts: two", h .. "." .. p, "malformed token" },
    { "not three parts: four", good .. ".x", "malformed token" },
    { "not three parts: empty", "", "malformed token" },
    { "not a string", 42, "malformed token" },
    { "bad base64url in the header", "*" .. good, "bad base64url" },
    { "padding on the signature", good .. "=", "bad base64url" },
    { "standard base64 '+'", h .. "." .. p .. "." .. s:sub(1, -2) .. "+", "bad base64url" },
    { "header of length 4k+1", "eyJhb" .. "." .. p .. "." .. s, "bad base64url" },
    { "signature with non-zero unused bits", h .. "." .. p .. "." .. respelled, "bad base64url" },
    { "header not JSON", forge("not json", '{"sub":"u1"}'), "bad header" },
    { "header a JSON list", forge('["HS256"]', '{"sub":"u1"}'), "bad header" },
    { "alg none, no signature", b64('{"alg":"none","typ":"JWT"}') .. "." .. p .. ".", "unsupported alg" },
    { "alg none, a valid HMAC anyway", forge('{"alg":"none"}', '{"sub":"u1"}'), "unsupported alg" },
    { "alg None", forge('{"alg":"None"}', '{"sub":"u1"}'), "unsupported alg" },
    { "alg HS512 with an HS256 MAC", forge('{"alg":"HS512","typ":"JWT"}', '{"sub":"u1"}'), "unsupported alg" },
    { "alg RS256", forge('{"alg":"RS256"}', '{"sub":"u1"}'), "unsupported alg" },
    { "alg hs256 (case matters)", forge('{"alg":"hs256"}', '{"sub":"u1"}'), "unsupported alg" },
    { "alg missing", forge('{"typ":"JWT"}', '{"sub":"u1"}'), "unsupported alg" },
    { "alg not a string", forge('{"alg":256}', '{"sub":"u1"}'), "unsupported alg" },
    { "crit extension", forge('{"alg":"HS256","crit":["x"],"x":1}', '{"sub":"u1"}'), "bad header" },
    { "tampered payload", h .. "." .. other_payload .. "." .. s, "bad signature" },
    { "tampered header", b64('{"alg":"HS256"}') .. "." .. p .. "." .. s, "bad signature" },
    { "tampered signature", h .. "." .. p .. "." .. flipped, "bad signature" },
    { "empty signature", h .. "." .. p .. ".", "bad signature" },
    { "truncated signature", h .. "." .. p .. "." .. s:sub(1, 40), "bad signature" },
    { "wrong secret", jwt.sign({ sub = "u1" }, "another secret"), "bad signature" },
    { "exp in the past", jwt.sign({ exp = 999 }, SECRET), "expired" },
    { "exp equal to now", jwt.sign({ exp = 1000 }, SECRET), "expired" },
    { "exp not a number", jwt.sign({ exp = "9999999999" }, SECRET), "bad exp" },
    { "nbf in the future", jwt.sign({ nbf = 1001 }, SECRET), "not yet valid" },
    { "nbf not a number", jwt.sign({ nbf = true }, SECRET), "bad nbf" },
    { "payload a JSON list", forge('{"alg":"HS256"}', '["sub"]'), "bad payload" },
    { "payload a JSON string", forge('{"alg":"HS256"}', '"sub"'), "bad payload" },
    { "payload not JSON", forge('{"alg":"HS256"}', "{sub:1}"), "bad payload" },
    { "payload not base64url", h .. ".Zm9vY." .. b64(crypto.hmac_sha256(SECRET, h .. ".Zm9vY")), "bad base64url" },
  }
  for _, r in ipairs(rejections) do
    case("jwt: rejects " .. r[1], function()
      local claims, reason = jwt.verify(r[2], SECRET, 1000)
      eq(claims, nil, "claims")
      eq(reason, r[3], "reason")
    end)
  end
end

case("jwt: nbf in the past or now and exp in the future pass", function()
  local claims = jwt.verify(jwt.sign({ nbf = 1000, exp = 1001 }, SECRET), SECRET, 1000)
  eq(claims and claims.nbf, 1000, "nbf")
end)

case("jwt: key rotation: any listed secret verifies, the first one signs", function()
  local old_token = jwt.sign({ sub = "u1" }, "old secret")
  local claims = jwt.verify(old_token, { "new secret", "old secret" })
  eq(claims and claims.sub, "u1", "old secret still verifies")
  local new_token = jwt.sign({ sub = "u2" }, { "new secret", "old secret" })
  eq(jwt.verify(new_token, "new secret").sub, "u2", "signed with the first")
  eq(select(2, jwt.verify(new_token, "old secret")), "bad signature", "not with the second")
  eq(select(2, jwt.verify(old_token, { "new secret" })), "bad signature", "a retired secret no longer verifies")
end)

case("jwt: misuse raises", function()
  raises("secrets must be", jwt.verify, "a.b.c", {})
  raises("secrets must be", jwt.verify, "a.b.c", nil)
  raises("secret #1 must be a non-empty string", jwt.verify, "a.b.c", "")
  raises("secret #2 must be a non-empty string", jwt.sign, {}, { "a", 2 })
  raises("claims must be a table", jwt.sign, "sub", SECRET)
  raises("claims must be an object", jwt.sign, { 1, 2 }, SECRET)
  raises("cannot be encoded as JSON", jwt.sign, { f = print }, SECRET)
  raises("expires_in must be", jwt.sign, {}, SECRET, { expires_in = -1 })
end)

---------------------------------------------------------------- cookie_session

case("cookie_session: encode then decode returns the session, its expiry and the key used", function()
  local value = session.encode({ user_id = "user1", roles = { "admin" } }, { "k1", "k0" }, { now = 1000 })
  eq(value:find("^[%w_%-]+%.[%w_%-]+$") ~= nil, true, "value is data.mac in base64url")
  local s, exp, key_index = session.decode(value, { "k1", "k0" }, 1000)
  eq(s.user_id, "user1", "user_id")
  eq(s.roles[1], "admin", "roles")
  eq(exp, 1000 + 86400, "default max_age is a day")
  eq(key_index, 1, "key index")
  local data = crypto.b64url_decode(value:match("^[^.]+"))
  eq(cjson.decode(data).exp, 87400, "exp is inside the signed data")
  local t = session.decode(session.encode({}, "k"), "k")
  eq(type(t), "table", "empty session, default clock")
end)

case("cookie_session: expiry from max_age is enforced", function()
  local value = session.encode({ u = 1 }, "k", { max_age = 60, now = 1000 })
  eq(session.decode(value, "k", 1059).u, 1, "before exp")
  local s, reason = session.decode(value, "k", 1060)
  eq(s, nil, "at exp")
  eq(reason, "expired", "reason")
end)

case("cookie_session: tampering is detected", function()
  local value = session.encode({ user_id = "user1" }, "k", { now = 1000 })
  local data, mac = value:match("^([^.]+)%.([^.]+)$")
  local forged = b64('{"exp":99999999999,"session":{"user_id":"user2"}}')
  local cases_ = {
    { forged .. "." .. mac, "bad signature" },
    { data .. "." .. (mac:sub(1, 1) == "A" and "B" or "A") .. mac:sub(2), "bad signature" },
    { data .. "." .. mac:sub(1, 40), "bad signature" },
    { session.encode({ user_id = "user1" }, "another key"), "bad signature" },
    { data, "malformed" },
    { data .. "." .. mac .. ".x", "malformed" },
    { data .. "." .. mac .. "=", "malformed" },
    { "", "malformed" },
    { false, "malformed" },
    { data .. ".Zm9vY", "malformed" },
  }
  for i, c in ipairs(cases_) do
    local s, reason = session.decode(c[1], "k", 1000)
    eq(s, nil, "case " .. i)
    eq(reason, c[2], "case " .. i .. " reason")
  end
  -- correctly signed, but not a session we wrote
  local junk = b64('{"session":{}}')
  eq(select(2, session.decode(junk .. "." .. b64(crypto.hmac_sha256("k", junk)), "k", 1000)), "bad payload", "no exp")
  junk = b64("[1,2]")
  eq(select(2, session.decode(junk .. "." .. b64(crypto.hmac_sha256("k", junk)), "k", 1000)), "bad payload", "a list")
end)

case("cookie_session: key rotation", function()
  local old = session.encode({ u = "a" }, "old", { now = 1000 })
  local s, _, key_index = session.decode(old, { "new", "old" }, 1000)
  eq(s and s.u, "a", "old key still accepted")
  eq(key_index, 2, "and reported, so the cookie can be re-issued")
  local new = session.encode({ u = "b" }, { "new", "old" }, { now = 1000 })
  eq(session.decode(new, "new", 1000).u, "b", "the first secret signs")
  eq(select(2, session.decode(new, "old", 1000)), "bad signature", "not the second")
  eq(select(2, session.decode(old, "new", 1000)), "bad signature", "a retired key is refused")
end)

case("cookie_session: misuse raises", function()
  raises("session must be a table", session.encode, "x", "k")
  raises("must be an object", session.encode, { 1 }, "k")
  raises("secrets must be", session.encode, {}, {})
  raises("max_age must be", session.encode, {}, "k", { max_age = 0 })
  raises("session too large", session.encode, { blob = string.rep("x", 4000) }, "k")
  raises("secret #1", session.decode, "a.b", "")
end)

case("cookie_session: Set-Cookie headers", function()
  eq(session.set_cookie_header("sid", "abc.def"),
    "sid=abc.def; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax", "defaults")
  eq(session.set_cookie_header("sid", "v", { secure = true, max_age = 3600 }),
    "sid=v; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax; Secure", "secure, max_age")
  eq(session.set_cookie_header("sid", "v", { path = "/app", domain = "example.com", same_site = "Strict" }),
    "sid=v; Max-Age=86400; Path=/app; Domain=example.com; HttpOnly; SameSite=Strict", "path, domain, same_site")
  eq(session.clear_cookie_header("sid"),
    "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax", "clear")
  eq(session.clear_cookie_header("sid", { secure = true }),
    "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax; Secure", "clear secure")
  raises("cookie name must be a token", session.set_cookie_header, "s id", "v")
  raises("cookie name must be a token", session.clear_cookie_header, "s=id")
  raises("cookie value must be", session.set_cookie_header, "sid", "a;b")
  raises("cookie value must be", session.set_cookie_header, "sid", "a\r\nSet-Cookie: x=1")
  raises("opts.path must be", session.set_cookie_header, "sid", "v", { path = "/\r\nX: 1" })
  raises("needs opts.secure", session.set_cookie_header, "sid", "v", { same_site = "None" })
  raises("same_site must be", session.set_cookie_header, "sid", "v", { same_site = "lax" })
end)

case("cookie_session: read_cookie finds a cookie in a Cookie header", function()
  eq(session.read_cookie("a=1; sid=abc.def; b=2", "sid"), "abc.def", "middle")
  eq(session.read_cookie("sid=\"q\"", "sid"), "q", "quoted")
  eq(session.read_cookie("sid=first; sid=second", "sid"), "first", "first wins")
  eq(session.read_cookie("xsid=1", "sid"), nil, "no prefix match")
  eq(session.read_cookie(nil, "sid"), nil, "no header")
end)

---------------------------------------------------------------- password

case("password: hash and verify", function()
  local stored = password.hash("correct horse", { iterations = 1000 })
  eq(stored:find("^pbkdf2%-sha256%$1000%$[%w_%-]+%$[%w_%-]+$") ~= nil, true, "format: " .. stored)
  local salt64, hash64 = stored:match("%$([^$]+)%$([^$]+)$")
  eq(#crypto.b64url_decode(salt64), 16, "salt length")
  eq(#crypto.b64url_decode(hash64), 32, "hash length")
  eq(password.verify("correct horse", stored), true, "right password")
  eq(password.verify("correct horsf", stored), false, "wrong password")
  eq(password.verify("", stored), false, "empty password")
  eq(password.hash("correct horse", { iterations = 1000 }) ~= stored, true, "a fresh salt each time")
end)

case("password: the default cost", function()
  local stored = password.hash("pw")
  eq(stored:match("^pbkdf2%-sha256%$(%d+)%$"), tostring(password.DEFAULT_ITERATIONS), "iterations")
  eq(password.verify("pw", stored), true, "verify")
  eq(password.needs_rehash(stored), false, "current")
  eq(password.needs_rehash(password.hash("pw", { iterations = 10 })), true, "weaker than the default")
end)

case("password: verifies a string built from the PBKDF2 test vector", function()
  local stored = "pbkdf2-sha256$1$" .. b64("salt") .. "$"
    .. b64(unhex("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"))
  eq(password.verify("password", stored), true, "vector")
  eq(password.verify("passwore", stored), false, "wrong")
end)

case("password: malformed stored strings verify false", function()
  local good = password.hash("pw", { iterations = 10 })
  local _, _, salt64, hash64 = good:match("^([^$]+)%$(%d+)%$([^$]+)%$([^$]+)$")
  for i, stored in ipairs {
    "", "pbkdf2-sha256", "pbkdf2-sha256$10$" .. salt64, "bcrypt$10$" .. salt64 .. "$" .. hash64,
    "pbkdf2-sha512$10$" .. salt64 .. "$" .. hash64, "pbkdf2-sha256$0$" .. salt64 .. "$" .. hash64,
    "pbkdf2-sha256$010$" .. salt64 .. "$" .. hash64, "pbkdf2-sha256$-10$" .. salt64 .. "$" .. hash64,
    "pbkdf2-sha256$99999999999$" .. salt64 .. "$" .. hash64, "pbkdf2-sha256$ten$" .. salt64 .. "$" .. hash64,
    "pbkdf2-sha256$10$" .. salt64 .. "$" .. hash64:sub(1, 20), "pbkdf2-sha256$10$" .. salt64 .. "$" .. hash64 .. "$",
    "pbkdf2-sha256$10$" .. salt64 .. "$Zm9vY", good .. "\n", " " .. good,
  } do
    eq(password.verify("pw", stored), false, "case " .. i .. " " .. stored)
    eq(password.needs_rehash(stored), true, "needs_rehash case " .. i)
  end
  eq(password.verify("pw", nil), false, "nil")
  eq(password.verify("pw", 42), false, "number")
  eq(password.verify(nil, good), false, "nil password")
  eq(password.verify("pw", good), true, "the unmangled one passes")
end)

case("password: misuse raises", function()
  raises("password must be a string", password.hash, nil)
  raises("iterations must be", password.hash, "pw", { iterations = 0 })
  raises("iterations must be", password.hash, "pw", { iterations = 1.5 })
end)

return cases
