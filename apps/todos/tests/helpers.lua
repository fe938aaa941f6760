-- Shared by the todos tests: a fresh store on a temporary SQLite file.
local Store = require "store"
local password = require "pikku.password"

local M = {}

-- Cheap hashes for the seed users (the format is the same, only the iteration count differs).
local function fast_hash(pw)
  return password.hash(pw, { iterations = 1000 })
end

--- fresh_store() -> store, cleanup(): a new, seeded database file.
function M.fresh_store()
  local path = os.tmpname()
  local store = Store.new { path = path, hash = fast_hash }
  store:init()
  local function cleanup()
    store:close()
    for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(path .. suffix) end
  end
  return store, cleanup
end

return M
