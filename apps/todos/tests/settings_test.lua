-- The app's settings under `pikku test`: a temporary database, and a random session secret kept in memory only.
-- luacheck: globals describe it before_each after_each expect t
local settings = require "settings"
local jwt = require "pikku.jwt"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("settings", function()
  it("the secret file sits beside the database: .db becomes .secret, else .secret is added", function()
    expect(settings.secret_path("apps/todos/todos.db")).to_equal("apps/todos/todos.secret")
    expect(settings.secret_path("/var/lib/todos/data.db")).to_equal("/var/lib/todos/data.secret")
    expect(settings.secret_path("/tmp/lua_abc")).to_equal("/tmp/lua_abc.secret")
    expect(settings.secret_file).to_equal(settings.secret_path(settings.db_path))
  end)

  it("under pikku test the secret is random for the run (64 hex digits) and no secret file is written", function()
    if os.getenv("TODOS_SECRET") and os.getenv("TODOS_SECRET") ~= "" then return end   -- the run's own
    expect(#settings.secret).to_equal(64)
    expect(settings.secret:match("^%x+$") ~= nil).to_be(true)
    expect(settings.secret ~= "dev-secret-change-me").to_be(true)
    expect(exists(settings.secret_file)).to_be(false)
  end)

  it("the session cookie and the JWTs the app makes are signed with it", function()
    local res = t.request { method = "POST", path = "/login", body = { username = "demo", password = "test" } }
    expect(res.status).to_equal(200)
    expect(jwt.verify(res.json.token, settings.secret).userId).to_equal("user1")
    expect(select(2, jwt.verify(res.json.token, "dev-secret-change-me"))).to_equal("bad signature")
  end)
end)
