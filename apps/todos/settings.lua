-- The todos app's settings: the database path and the session secret, from the environment or beside the database.
-- app.lua and the tests require this module, so both see the same values (one Lua state per load).
local pikku = require "pikku"

local env = pikku.env
local gsub = string.gsub

local M = {}

-- This folder (as the server was given it), for the default database path.
local APP_DIR = (debug.getinfo(1, "S").source:match("^@(.*)/settings%.lua$")) or "."

-- Under `pikku test` the default database is a fresh temporary file (removed at the end), never
-- the app's own.
M.testing = require("pikku.core").test == true
M.default_db = M.testing and os.tmpname() or APP_DIR .. "/todos.db"
M.db_path = env("PIKKU_TODOS_DB", M.default_db)

--- M.secret_path(db_path) -> the secret file beside the database: `.db` replaced by `.secret`
--- (apps/todos/todos.db -> apps/todos/todos.secret), or `.secret` appended.
function M.secret_path(db_path)
  return (gsub(db_path, "%.db$", "")) .. ".secret"
end
M.secret_file = M.secret_path(M.db_path)

-- Signs the session cookie and the JWTs: TODOS_SECRET (32 bytes at least, unless --dev), else the
-- secret file beside the database, generated on the first start (under `pikku test`: a random
-- secret for the run, no file). See pikku.secret in docs/lua-api.md.
M.secret = pikku.secret { env = "TODOS_SECRET", file = M.secret_file }

return M
