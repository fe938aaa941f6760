-- Signing secrets: the lists apps give (checked for jwt and cookie sessions), and an app's own, from env or a file.
local M = {}

local type, tostring, pairs, ipairs, error, pcall, require = type, tostring, pairs, ipairs, error, pcall, require
local format = string.format

M.MIN_BYTES = 32   -- shorter secrets can be guessed offline from one signed token or cookie

-- Secrets already warned about as short in this process (pikku.auth and pikku.secret share it,
-- so a short secret is named once).
M.short_warned = {}

--- M.list(secrets, fname) -> list of non-empty strings (the first one signs; any one verifies).
--- A misconfiguration is a programmer error and raises, blaming the caller of fname.
function M.list(secrets, fname)
  if type(secrets) == "string" then
    secrets = { secrets }
  elseif type(secrets) ~= "table" or secrets[1] == nil then
    error(fname .. ": secrets must be a string or a non-empty list of strings, got " .. type(secrets), 3)
  end
  for i, s in ipairs(secrets) do
    if type(s) ~= "string" or s == "" then
      error(fname .. ": secret #" .. i .. " must be a non-empty string", 3)
    end
  end
  return secrets
end

-- Secrets made for a `pikku test` run, by file path: the same one for every call in the run.
local test_secrets = {}

--- M.resolve(opts, host, value) -> secret, source: the rules of pikku.secret, with the host's
--- settings given (host = { dev, test, worker, log = function(level, msg) }) and value the
--- environment variable's (nil when unset). Raises a message without a position.
function M.resolve(opts, host, value)
  local env, file = opts.env, opts.file
  if value ~= nil and value ~= "" then
    if #value < M.MIN_BYTES then
      local msg = format("%s is %d bytes: a signing secret needs at least %d random bytes (openssl rand -hex 32)",
        env, #value, M.MIN_BYTES)
      if not host.dev then
        error(msg .. "; unset it to have one generated in " .. file .. ", or run with --dev to accept it", 0)
      end
      if not M.short_warned[value] then
        M.short_warned[value] = true
        host.log("warn", msg .. "; accepted because of --dev")
      end
    end
    return value, "env"
  end
  if host.test then
    local s = test_secrets[file]
    if not s then
      s = require("pikku.secret_file").generate()
      test_secrets[file] = s
    end
    return s, "test"
  end
  local secret, created = require("pikku.secret_file").load(file)
  local unset = env and (env .. " is not set: ") or ""
  if created then
    host.log("info", format("%sgenerated a new signing secret in %s (mode 0600; kept for the next starts)",
      unset, file))
    return secret, "created"
  end
  if host.worker == 0 then   -- the master loads the app first: once per start or reload, not per worker
    host.log("info", format("%susing the signing secret in %s", unset, file))
  end
  return secret, "file"
end

-- What resolve needs to know about the host: pikku.core's flags, or plain defaults outside it.
local function host_settings()
  local ok, core = pcall(require, "pikku.core")
  if ok and type(core) == "table" then
    return { dev = core.dev == true, test = core.test == true, worker = core.worker, log = core.log }
  end
  return { dev = false, test = false, worker = 0,
           log = function(level, msg) io.stderr:write(level, ": ", msg, "\n") end }
end

--- M.load { env = "NAME"?, file = "path" } -> secret, source (pikku.secret). where: "file:line" of
--- the app's call, put in front of every error.
function M.load(opts, where)
  where = where and (where .. ": ") or ""
  if type(opts) ~= "table" then
    error(where .. 'pikku.secret: expected a table { env = "NAME", file = "path" }, got ' .. type(opts), 0)
  end
  for k in pairs(opts) do
    if k ~= "env" and k ~= "file" then
      error(where .. 'pikku.secret: unknown field "' .. tostring(k) .. '" (known fields: env, file)', 0)
    end
  end
  if opts.env ~= nil and (type(opts.env) ~= "string" or opts.env == "") then
    error(where .. "pikku.secret: env must be the name of an environment variable", 0)
  end
  if type(opts.file) ~= "string" or opts.file == "" then
    error(where .. "pikku.secret: file must be the path of the file that keeps the secret (it is generated"
      .. " there when missing)", 0)
  end
  local value = opts.env and os.getenv(opts.env) or nil
  local ok, secret, source = pcall(M.resolve, opts, host_settings(), value)
  if not ok then error(where .. tostring(secret), 0) end
  return secret, source
end

return M
