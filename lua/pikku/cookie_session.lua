-- Signed cookie sessions: HMAC-SHA256 over the JSON session with its expiry inside, key rotation, Set-Cookie.
local M = {}

local crypto = require "pikku.crypto_c"
local json_mod = require "pikku.json"

local type, tostring, ipairs, error = type, tostring, ipairs, error
local os_time, floor, format = os.time, math.floor, string.format
local hmac, b64enc, b64dec, equals = crypto.hmac_sha256, crypto.b64url_encode, crypto.b64url_decode, crypto.equals
local json_encode, json_decode = json_mod.encode, json_mod.decode

M.DEFAULT_MAX_AGE = 86400
-- Browsers keep at most 4096 bytes per cookie, name and attributes included.
M.MAX_VALUE_LEN = 3800

local secret_list = require("pikku.secrets").list

local function max_age_of(opts, fname)
  local max_age = opts and opts.max_age or M.DEFAULT_MAX_AGE
  if type(max_age) ~= "number" or max_age <= 0 or max_age ~= floor(max_age) then
    error(fname .. ": opts.max_age must be a positive integer of seconds, got " .. tostring(max_age), 3)
  end
  return max_age
end

--- cookie_session.encode(session, secrets, opts) -> cookie value
-- Signs with the FIRST secret. opts.max_age (seconds, default 86400) sets the expiry stored in
-- the signed data; opts.now overrides the clock. Raises when the session is not a JSON object or
-- the value would not fit in a cookie (keep an id in the session and the data on the server).
function M.encode(session, secrets, opts)
  if type(session) ~= "table" then
    error("cookie_session.encode: session must be a table, got " .. type(session), 2)
  end
  local key = secret_list(secrets, "cookie_session.encode")[1]
  local max_age = max_age_of(opts, "cookie_session.encode")
  local now = opts and opts.now or os_time()
  local json, err = json_encode(session)
  if not json then
    error("cookie_session.encode: session cannot be encoded as JSON: " .. tostring(err), 2)
  end
  if json:byte(1) ~= 123 then -- '{'
    error("cookie_session.encode: session must be an object (string keys), not a list", 2)
  end
  local data = b64enc(format('{"exp":%d,"session":%s}', floor(now) + max_age, json))
  local value = data .. "." .. b64enc(hmac(key, data))
  if #value > M.MAX_VALUE_LEN then
    error(format("cookie_session.encode: session too large for a cookie (%d bytes encoded, limit %d): "
      .. "store an id in the session and keep the data on the server", #value, M.MAX_VALUE_LEN), 2)
  end
  return value
end

--- cookie_session.decode(value, secrets, now) -> session, exp, key_index | nil, reason
-- Any of the secrets may have signed (rotation); key_index > 1 tells the caller the cookie was
-- signed with an older secret and is worth re-issuing. now defaults to os.time().
-- Reasons: "malformed", "bad signature", "bad payload", "expired".
function M.decode(value, secrets, now)
  secrets = secret_list(secrets, "cookie_session.decode")
  if type(value) ~= "string" then return nil, "malformed" end
  local data, sig64 = value:match("^([%w_%-]+)%.([%w_%-]+)$")
  if not data then return nil, "malformed" end
  local sig = b64dec(sig64)
  if not sig then return nil, "malformed" end
  local matched
  for i, key in ipairs(secrets) do
    -- every key is tried, so the time does not tell which one matched
    if equals(hmac(key, data), sig) and not matched then matched = i end
  end
  if not matched then return nil, "bad signature" end

  local json = b64dec(data)
  local t = json and json_decode(json)
  if type(t) ~= "table" or type(t.exp) ~= "number" or type(t.session) ~= "table" then
    return nil, "bad payload"
  end
  if t.exp <= (now or os_time()) then return nil, "expired" end
  return t.session, t.exp, matched
end

-- RFC 6265 4.1.1: a cookie name is an RFC 7230 token; a value is cookie-octets.
local function check_name(name, fname)
  if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+%-.^_`|~]+$") then
    error(fname .. ": cookie name must be a token (letters, digits, !#$%&'*+-.^_`|~), got " .. tostring(name), 3)
  end
end

local function check_attr(v, what, fname)
  if v ~= nil and (type(v) ~= "string" or v:find("[%c;]")) then
    error(fname .. ": opts." .. what .. " must be a string without ';' or control characters", 3)
  end
end

local SAME_SITE = { Lax = true, Strict = true, None = true }

-- "; Path=/; Domain=...; HttpOnly; SameSite=Lax; Secure" for opts.
local function attributes(opts, fname)
  local path = opts.path or "/"
  check_attr(path, "path", fname)
  check_attr(opts.domain, "domain", fname)
  local same_site = opts.same_site or "Lax"
  if not SAME_SITE[same_site] then
    error(fname .. ': opts.same_site must be "Lax", "Strict" or "None", got ' .. tostring(same_site), 3)
  end
  if same_site == "None" and not opts.secure then
    error(fname .. ': opts.same_site = "None" needs opts.secure = true (browsers drop it otherwise)', 3)
  end
  return "; Path=" .. path
    .. (opts.domain and "; Domain=" .. opts.domain or "")
    .. (opts.http_only == false and "" or "; HttpOnly")
    .. "; SameSite=" .. same_site
    .. (opts.secure and "; Secure" or "")
end

--- cookie_session.set_cookie_header(name, value, opts) -> Set-Cookie header value
-- `name=value; Max-Age=N; Path=/; HttpOnly; SameSite=Lax` (+ `; Secure` when opts.secure).
-- opts: max_age (default 86400: pass the opts given to encode), secure, path, domain,
-- same_site ("Lax" | "Strict" | "None"), http_only (default true).
function M.set_cookie_header(name, value, opts)
  local fname = "cookie_session.set_cookie_header"
  opts = opts or {}
  check_name(name, fname)
  if type(value) ~= "string" or value:find('[%c%s",;\\\128-\255]') then
    error(fname .. ": cookie value must be a string of cookie-octets (no space, quote, comma, ';' or '\\')", 2)
  end
  return name .. "=" .. value .. "; Max-Age=" .. max_age_of(opts, fname) .. attributes(opts, fname)
end

--- cookie_session.clear_cookie_header(name, opts) -> Set-Cookie header value that deletes it
-- Use the same path and domain as when it was set, or the browser keeps the old cookie.
function M.clear_cookie_header(name, opts)
  local fname = "cookie_session.clear_cookie_header"
  opts = opts or {}
  check_name(name, fname)
  return name .. "=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" .. attributes(opts, fname)
end

--- cookie_session.read_cookie(cookie_header, name) -> value | nil
-- The value of cookie `name` in a request's Cookie header ("a=1; b=2"), surrounding double
-- quotes removed. When the name appears more than once (a parent domain's cookie beside the
-- host's), the first one wins, as browsers send the most specific path first.
function M.read_cookie(cookie_header, name)
  if type(cookie_header) ~= "string" then return nil end
  for pair in cookie_header:gmatch("[^;]+") do
    local k, v = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
    if k == name then
      return (v:match('^"(.*)"$') or v)
    end
  end
  return nil
end

return M
