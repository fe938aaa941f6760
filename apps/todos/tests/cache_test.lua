-- The stats cache in Redis (store_cache.lua): used when REDIS_URL is set, dropped by a create or a delete.
-- luacheck: globals describe it before_each after_each expect t
local helpers = require "tests.helpers"
local pikku = require "pikku"

describe("stats cache", function()
  local store, cleanup
  before_each(function() store, cleanup = helpers.fresh_store() end)
  after_each(function() cleanup() end)

  it("keeps stats in Redis when REDIS_URL is set, and drops them on a change", function()
    local url = os.getenv("REDIS_URL")
    expect(store:stats()).to_equal { users = 2, todos = 2 }
    if not url then return end   -- the SQLite-only run: nothing cached
    local r = pikku.redis.connect(url)
    local key = "todos:stats:" .. tostring(store.schema or store.path)
    expect(pikku.json.decode(r:get(key))).to_equal { users = 2, todos = 2 }
    store:create("user1", { title = "x" })
    expect(r:get(key)).to_be_nil()
    expect(store:stats()).to_equal { users = 2, todos = 3 }
  end)
end)
