-- JSON Web Tokens signed with HS256 (HMAC-SHA256): sign, and verify with strict checks and key rotation.
local M = {}

local crypto = require "pikku.crypto_c"
local json_mod = require "pikku.json"

local type, tostring, pairs, ipairs, error = type, tostring, pairs, ipairs, error
local os_time, floor = os.time, math.floor
local hmac, b64enc, b64dec, equals = crypto.hmac_sha256, crypto.b64url_encode, crypto.b64url_decode, crypto.equals
local json_encode, json_decode, is_object = json_mod.encode, json_mod.decode, json_mod.is_object

-- The only header sign() writes; verify() reads whatever the token carries.
local HEADER = b64enc('{"alg":"HS256","typ":"JWT"}')

local secret_list = require("pikku.secrets").list

--- jwt.sign(claims, secret, opts) -> token
-- claims: a table with string keys (copied, never changed). secret: a string, or a list whose
-- first entry signs. opts.expires_in: seconds; adds `iat` = now and `exp` = now + expires_in.
-- opts.now overrides the clock (seconds since the epoch).
function M.sign(claims, secret, opts)
  if type(claims) ~= "table" then
    error("jwt.sign: claims must be a table, got " .. type(claims), 2)
  end
  local key = secret_list(secret, "jwt.sign")[1]
  opts = opts or {}
  local payload = claims
  if opts.expires_in ~= nil then
    local ttl = opts.expires_in
    if type(ttl) ~= "number" or ttl <= 0 then
      error("jwt.sign: opts.expires_in must be a positive number of seconds, got " .. tostring(ttl), 2)
    end
    local now = opts.now or os_time()
    payload = {}
    for k, v in pairs(claims) do payload[k] = v end
    payload.iat = floor(now)
    payload.exp = floor(now + ttl)
  end
  local json, err = json_encode(payload)
  if not json then
    error("jwt.sign: claims cannot be encoded as JSON: " .. tostring(err), 2)
  end
  if json:byte(1) ~= 123 then -- '{'
    error("jwt.sign: claims must be an object (string keys), not a list", 2)
  end
  local signing_input = HEADER .. "." .. b64enc(json)
  return signing_input .. "." .. b64enc(hmac(key, signing_input))
end

--- jwt.verify(token, secrets, now) -> claims | nil, reason
-- secrets: a string or a list of strings, any of which may have signed (key rotation). now:
-- seconds since the epoch, default os.time(). Reasons: "malformed token", "bad base64url",
-- "bad header", "unsupported alg", "bad signature", "bad payload", "bad exp", "bad nbf",
-- "expired", "not yet valid".
function M.verify(token, secrets, now)
  secrets = secret_list(secrets, "jwt.verify")
  if type(token) ~= "string" then return nil, "malformed token" end
  local h64, p64, s64 = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
  if not h64 then return nil, "malformed token" end
  -- Segments are unpadded base64url (RFC 7515 2): '=' or '+' would be a second spelling.
  if token:find("[^%w_%-.]") then return nil, "bad base64url" end

  local header_json = b64dec(h64)
  if not header_json then return nil, "bad base64url" end
  local header = json_decode(header_json)
  if not is_object(header) then return nil, "bad header" end
  -- Only HS256: "none", other HMACs and every public-key alg are refused, whatever the key.
  if header.alg ~= "HS256" then return nil, "unsupported alg" end
  -- RFC 7515 4.1.11: extensions we do not know that the signer marked critical must fail.
  if header.crit ~= nil then return nil, "bad header" end

  local sig = b64dec(s64)
  if not sig then return nil, "bad base64url" end
  local signing_input = h64 .. "." .. p64
  local ok = false
  for _, key in ipairs(secrets) do
    -- every key is tried, so the time does not tell which one matched
    if equals(hmac(key, signing_input), sig) then ok = true end
  end
  if not ok then return nil, "bad signature" end

  -- The payload is parsed only once the signature is known good.
  local payload_json = b64dec(p64)
  if not payload_json then return nil, "bad base64url" end
  local claims = json_decode(payload_json)
  if not is_object(claims) then return nil, "bad payload" end

  now = now or os_time()
  local exp, nbf = claims.exp, claims.nbf
  if exp ~= nil then
    if type(exp) ~= "number" then return nil, "bad exp" end
    if exp <= now then return nil, "expired" end
  end
  if nbf ~= nil then
    if type(nbf) ~= "number" then return nil, "bad nbf" end
    if nbf > now then return nil, "not yet valid" end
  end
  return claims
end

return M
