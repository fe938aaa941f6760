-- Login, sessions, the admin permission and the greet RPC, called directly and in-process.
-- luacheck: globals describe it before_each after_each expect t
local helpers = require "tests.helpers"
local auth = require "functions.auth"
local greet = require "functions.greet"
local jwt = require "pikku.jwt"
local settings = require "settings"   -- the module app.lua took its secret from

local USER1 = { id = "user1", username = "demo", email = "demo@example.com", role = "user" }

describe("auth functions", function()
  local store, cleanup, opts
  before_each(function()
    store, cleanup = helpers.fresh_store()
    opts = { services = { store = store } }
  end)
  after_each(function() cleanup() end)

  it("login: demo/test -> {token, user}", function()
    local res = t.call(auth.login, { username = "demo", password = "test" }, opts)
    expect(res.user).to_equal(USER1)
    expect(type(res.token)).to_equal("string")
  end)

  it("login: the token is a JWT for the session, signed with the app's secret", function()
    local res = t.call(auth.login, { username = "admin", password = "password" }, opts)
    local claims = jwt.verify(res.token, settings.secret)
    expect(claims.userId).to_equal("user2")
    expect(claims.role).to_equal("admin")
    expect(claims.exp > os.time()).to_be(true)
  end)

  it("login: a wrong password or an unknown user is 401 Unauthorized", function()
    t.expect_error(function() t.call(auth.login, { username = "demo", password = "nope" }, opts) end, "Unauthorized")
    t.expect_error(function() t.call(auth.login, { username = "ghost", password = "test" }, opts) end, 401)
    t.expect_error(function() t.call(auth.login, { username = "demo" }, opts) end, "UnprocessableContent")
  end)

  it("me: the session's user, without the password hash", function()
    local res = t.call(auth.me, {}, { services = { store = store }, session = { userId = "user1" } })
    expect(res).to_equal { user = USER1 }
  end)

  it("me: no session is 401 MissingSession; a deleted user's session is 401", function()
    t.expect_error(function() t.call(auth.me, {}, opts) end, "MissingSession")
    t.expect_error(function()
      t.call(auth.me, {}, { services = { store = store }, session = { userId = "gone" } })
    end, 401)
  end)

  it("adminStats: counts for an admin, 403 for user1, 401 without a session", function()
    local admin = { services = { store = store }, session = { userId = "user2", role = "admin" } }
    expect(t.call(auth.admin_stats, {}, admin)).to_equal { users = 2, todos = 2 }
    local user = { services = { store = store }, session = { userId = "user1", role = "user" } }
    local e = t.expect_error(function() t.call(auth.admin_stats, {}, user) end, "Forbidden")
    expect(e.message).to_equal("Permission denied")
    t.expect_error(function() t.call(auth.admin_stats, {}, opts) end, "MissingSession")
  end)

  it("logout: {success = true}", function()
    expect(t.call(auth.logout, {}, opts)).to_equal { success = true }
  end)
end)

describe("auth routes in-process", function()
  it("POST /login sets the session cookie; GET /me reads it back", function()
    local res = t.request { method = "POST", path = "/login", body = { username = "demo", password = "test" } }
    expect(res.status).to_equal(200)
    expect(res.json.user).to_equal(USER1)
    local cookie = res.cookies[1]
    expect(cookie).to_contain("pikku_session=")
    expect(cookie).to_contain("HttpOnly")
    res = t.request { path = "/me", headers = { cookie = cookie:match("^[^;]+") } }
    expect(res.status).to_equal(200)
    expect(res.json.user).to_equal(USER1)
  end)

  it("a client keeps the cookie as a browser would: login, /me, logout, /me again", function()
    local browser = t.client()
    local res = browser:request { method = "POST", path = "/login", body = { username = "demo", password = "test" } }
    expect(res.status).to_equal(200)
    expect(browser.cookies.pikku_session).to_be_truthy()
    expect(browser:request { path = "/me" }.json.user).to_equal(USER1)
    expect(browser:request { method = "POST", path = "/logout" }.status).to_equal(200)
    expect(browser.cookies.pikku_session).to_be_nil()
    expect(browser:request { path = "/me" }.status).to_equal(401)
  end)

  it("GET /me with the bearer token", function()
    local login = { method = "POST", path = "/login", body = { username = "admin", password = "password" } }
    local token = t.request(login).json.token
    local res = t.request { path = "/me", headers = { authorization = "Bearer " .. token } }
    expect(res.status).to_equal(200)
    expect(res.json.user.id).to_equal("user2")
  end)

  it("POST /login with bad credentials is 401 and sets no cookie", function()
    local res = t.request { method = "POST", path = "/login", body = { username = "demo", password = "bad" } }
    expect(res.status).to_equal(401)
    expect(res.json.name).to_equal("Unauthorized")
    expect(#res.cookies).to_equal(0)
  end)

  it("POST /logout clears the cookie", function()
    local res = t.request { method = "POST", path = "/logout", session = { userId = "user1" } }
    expect(res.status).to_equal(200)
    expect(res.json).to_equal { success = true }
    expect(res.cookies[1]).to_contain("pikku_session=")
    expect(res.cookies[1]:lower()).to_contain("max-age=0")
  end)

  it("GET /admin/stats: 200 for an admin session, 403 for user1, 401 without one", function()
    local res = t.request { path = "/admin/stats", session = { userId = "user2", role = "admin" } }
    expect(res.status).to_equal(200)
    expect(res.json.users).to_equal(2)
    expect(t.request({ path = "/admin/stats", session = { userId = "user1", role = "user" } }).status).to_equal(403)
    expect(t.request({ path = "/admin/stats" }).status).to_equal(401)
  end)
end)

describe("greet (RPC)", function()
  it("greets with the given greeting, or Hello", function()
    local res = t.call("greet", { name = "Ada", greeting = "Hi" })
    expect(res.message).to_equal("Hi, Ada!")
    expect(type(res.timestamp)).to_equal("number")
    expect(math.abs(res.timestamp - greet.now_ms()) < 5000).to_be(true)
    expect(t.call(greet.greet, { name = "Bob" }).message).to_equal("Hello, Bob!")
  end)

  it("needs a name", function()
    t.expect_error(function() t.call("greet", {}) end, "UnprocessableContent")
  end)

  it("POST /rpc/greet in-process", function()
    local res = t.request { method = "POST", path = "/rpc/greet", body = { data = { name = "Cy" } } }
    expect(res.status).to_equal(200)
    expect(res.json.message).to_equal("Hello, Cy!")
  end)
end)
