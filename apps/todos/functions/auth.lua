-- Users and sessions: login (password check, session cookie and a JWT), logout, me, and the
-- admin-only stats.
local pikku = require "pikku"
local password = require "pikku.password"
local schemas = require "schemas"

local errors = pikku.errors
local type = type

local M = {}

-- A hash to check unknown usernames against (made on first use: hashing takes ~50 ms).
local dummy
local function dummy_hash()
  dummy = dummy or password.hash("no such user")
  return dummy
end

-- Any one passing key allows the call: here only admins.
M.permissions = {
  admin = function(_, _, session)
    return type(session) == "table" and session.role == "admin"
  end,
}

--- M.check_credentials(services, username, password) -> the user, or raises 401 Unauthorized.
function M.check_credentials(services, username, pw)
  local user, hash = services.store:user_by_username(username)
  -- Verify against a dummy hash when the user is unknown, so the time does not tell.
  local ok = password.verify(pw, hash or dummy_hash())
  if not user or not ok then
    error(errors.Unauthorized("Invalid username or password"), 0)
  end
  return user
end

M.login = pikku.func {
  name = "login",
  title = "Log in with username and password",
  description = "Sets the session cookie and returns a bearer token (JWT) for the same session.",
  tags = { "auth" },
  auth = false,
  input = schemas.LoginInput,
  output = schemas.LoginOutput,
  errors = { "Unauthorized" },   -- bad credentials (for the generated docs and clients)
  func = function(services, data, wire)
    local user = M.check_credentials(services, data.username, data.password)
    local session = { userId = user.id, role = user.role }
    wire.set_session(session)   -- the signed session cookie
    services.logger.info("user %s logged in", user.id)
    return { token = services.jwt:sign(session), user = user }   -- the same session as a JWT
  end,
}

M.logout = pikku.func {
  name = "logout",
  title = "Log out: clears the session cookie",
  tags = { "auth" },
  auth = false,
  output = schemas.SuccessOutput,
  func = function(_, _, wire)
    wire.clear_session()
    return { success = true }
  end,
}

M.me = pikku.func {
  name = "getMe",
  title = "The user of the current session (cookie or bearer token)",
  tags = { "auth" },
  auth = true,
  output = schemas.UserOutput,
  func = function(services, _, wire)
    local session = wire.session
    if type(session) ~= "table" or session.userId == nil then
      error(errors.MissingSession())
    end
    local user = services.store:user_by_id(session.userId)
    if not user then
      error(errors.InvalidSession("the session's user no longer exists"))
    end
    return { user = user }
  end,
}

M.admin_stats = pikku.func {
  name = "adminStats",
  title = "How many users and todos there are (admins only)",
  tags = { "admin" },
  auth = true,
  permissions = { admin = M.permissions.admin },
  output = schemas.StatsOutput,
  func = function(services)
    return services.store:stats()
  end,
}

return M
