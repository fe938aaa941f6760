-- Password hashing with PBKDF2-HMAC-SHA256 and a random salt, stored as one self-describing string.
local M = {}

local crypto = require "pikku.crypto_c"

local type, tostring, tonumber, error = type, tostring, tonumber, error
local floor = math.floor
local pbkdf2, random_bytes = crypto.pbkdf2_sha256, crypto.random_bytes
local b64enc, b64dec, equals = crypto.b64url_encode, crypto.b64url_decode, crypto.equals

-- About 55 ms per hash on one core of the development machine (0.22 ms per 1000 iterations; see
-- docs/auth-primitives.md). Inside a call it runs on libuv's thread pool (4 threads unless
-- UV_THREADPOOL_SIZE says otherwise): the worker serves other requests meanwhile. Raise it with
-- hardware; needs_rehash() upgrades stored hashes.
M.DEFAULT_ITERATIONS = 250000
M.SALT_LEN = 16
M.HASH_LEN = 32
-- verify() refuses stored strings asking for more work than this: a corrupted or hostile row
-- must not stall a worker for minutes.
M.MAX_ITERATIONS = 5000000

local PREFIX = "pbkdf2-sha256"

-- PBKDF2 on libuv's thread pool when a call of the runtime runs this (the worker goes on serving
-- while it computes); on this thread otherwise (at load time, seeding users, say).
local function derive(password, salt, iterations, keylen)
  local runtime = package.loaded["pikku.runtime"]
  local dk = runtime and runtime.pbkdf2_wait(password, salt, iterations, keylen)
  if dk == nil then return pbkdf2(password, salt, iterations, keylen) end
  return dk or nil
end

--- password.hash(password, opts) -> "pbkdf2-sha256$<iterations>$<b64url salt>$<b64url hash>"
-- opts.iterations (default M.DEFAULT_ITERATIONS). A fresh 16-byte salt every call.
function M.hash(password, opts)
  if type(password) ~= "string" then
    error("password.hash: password must be a string, got " .. type(password), 2)
  end
  local iterations = opts and opts.iterations or M.DEFAULT_ITERATIONS
  if type(iterations) ~= "number" or iterations < 1 or iterations > M.MAX_ITERATIONS
      or iterations ~= floor(iterations) then
    error("password.hash: opts.iterations must be an integer from 1 to " .. M.MAX_ITERATIONS
      .. ", got " .. tostring(iterations), 2)
  end
  local salt, err = random_bytes(M.SALT_LEN)
  if not salt then error("password.hash: " .. err, 2) end
  local dk = derive(password, salt, iterations, M.HASH_LEN)
  if not dk then error("password.hash: PBKDF2 failed", 2) end
  return PREFIX .. "$" .. iterations .. "$" .. b64enc(salt) .. "$" .. b64enc(dk)
end

-- stored -> iterations, salt, hash, or nil when it is not one of ours
local function parse(stored)
  if type(stored) ~= "string" then return nil end
  local scheme, iter, salt64, hash64 = stored:match("^([%w%-]+)%$([1-9]%d*)%$([%w_%-]+)%$([%w_%-]+)$")
  if scheme ~= PREFIX then return nil end
  local iterations = tonumber(iter)
  if not iterations or iterations > M.MAX_ITERATIONS then return nil end
  local salt, hash = b64dec(salt64), b64dec(hash64)
  if not salt or not hash or #hash < 16 or #hash > 64 then return nil end
  return iterations, salt, hash
end

--- password.verify(password, stored) -> boolean
-- false for a wrong password and for anything `stored` that hash() would not have produced.
-- The hashes are compared in constant time.
function M.verify(password, stored)
  if type(password) ~= "string" then return false end
  local iterations, salt, hash = parse(stored)
  if not iterations then return false end
  local dk = derive(password, salt, iterations, #hash)
  return dk ~= nil and equals(dk, hash)
end

--- password.needs_rehash(stored, opts) -> boolean
-- true when `stored` is malformed or used fewer iterations than opts.iterations (default
-- M.DEFAULT_ITERATIONS): after a successful login, hash the password again and store that.
function M.needs_rehash(stored, opts)
  local iterations = parse(stored)
  return not iterations or iterations < (opts and opts.iterations or M.DEFAULT_ITERATIONS)
end

return M
