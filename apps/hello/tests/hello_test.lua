-- Tests of apps/hello run by `pikku test apps/hello`: functions called directly and routes in-process.
-- describe, it, before_each, after_each, expect and t (pikku.testing) are globals in test files.
-- luacheck: read globals describe it before_each after_each expect t

describe("calling functions directly", function()
  it("greets through the wired route's function by calling the route in-process", function()
    local res = t.request { method = "GET", path = "/hello" }
    expect(res.status).to_equal(200)
    expect(res.json).to_equal { message = "hello" }
  end)

  it("a missing book is a NotFound with its id in the payload", function()
    local res = t.request { path = "/books/nope" }
    expect(res.status).to_equal(404)
    expect(res.json.name).to_equal("NotFound")
    expect(res.json.payload).to_equal { id = "nope" }
  end)
end)

describe("in-process HTTP", function()
  it("merges path params and the query into data", function()
    local res = t.request { path = "/echo-data?a=1&a=2&b=x" }
    expect(res.status).to_equal(200)
    expect(res.json.data).to_equal { a = { "1", "2" }, b = "x" }
  end)

  it("answers OPTIONS on a known path with 204 and Allow, as the server does", function()
    local res = t.request { method = "OPTIONS", path = "/echo-data" }
    expect(res.status).to_equal(204)
    expect(res.headers.allow).to_equal("GET, HEAD, POST, OPTIONS")
  end)

  it("takes a path value and the same number in the body as one value", function()
    local res = t.request { method = "POST", path = "/echo-data?n=7", body = { n = 7 } }
    expect(res.status).to_equal(200)
    expect(res.json.data).to_equal { n = 7 }
  end)

  it("parses a JSON body given as a table", function()
    local res = t.request { method = "POST", path = "/echo", body = { name = "bench" } }
    expect(res.json).to_equal { name = "bench" }
  end)

  it("rejects an echo without a name with 400", function()
    local res = t.request { method = "POST", path = "/echo", body = { nope = 1 } }
    expect(res.status).to_equal(400)
    expect(res.json.name).to_equal("BadRequest")
  end)

  it("sets status, headers and cookies", function()
    local res = t.request { method = "POST", path = "/items", body = { title = "x" } }
    expect(res.status).to_equal(201)
    expect(res.headers["x-item"]).to_equal("created")
    expect(res.cookies[1]).to_contain("item=1")
  end)

  it("waits for a function that sleeps", function()
    local res = t.request { path = "/sleep?ms=20" }
    expect(res.json).to_equal { slept = 20 }
  end)

  it("answers unknown paths with 404 and other methods with 405", function()
    expect(t.request({ path = "/missing" }).status).to_equal(404)
    local res = t.request { method = "DELETE", path = "/hello" }
    expect(res.status).to_equal(405)
    expect(res.headers.allow).to_contain("GET")
  end)

  it("hides a 500's message outside development mode", function()
    local res = t.request { path = "/boom" }
    expect(res.status).to_equal(500)
    expect(res.json.name).to_equal("InternalServerError")
  end)

  it("drops a 5xx's message and payload outside development mode", function()
    local res = t.request { path = "/unavailable" }
    expect(res.status).to_equal(503)
    expect(res.json.name).to_equal("ServiceUnavailable")
    expect(res.json.payload).to_be_nil()
    expect(res.body:find("secret", 1, true)).to_be_nil()
  end)
end)

describe("t.call", function()
  it("calls a function by name, without HTTP", function()
    expect(t.call("hello")).to_equal { message = "hello" }
  end)

  it("uses mocked services", function()
    local slept
    local res = t.call("nap", { ms = 5 }, { services = { sleep = function(ms) slept = ms end } })
    expect(res).to_equal { slept = 5 }
    expect(slept).to_be(5)
  end)

  it("raises the function's error", function()
    t.expect_error(function() t.call("nap", { ms = -1 }) end, "BadRequest")
    expect(function() t.call("nap", { ms = -1 }) end).to_fail_with(400)
    t.expect_error(function() t.call("no_such_function") end, "NotFound")
  end)
end)

describe("wire.http:set_header", function()
  local http = require "pikku.http"
  it("sets a header; a bad name, a CR/LF in the value or a server-owned header is an error", function()
    local h = http.new(0, "GET", "/", nil, nil, nil)
    h:set_header("X-Ok", "1")
    h:set_header("X-Ok", 2)                        -- a second time: the name is cached, still fine
    local ok, err = pcall(h.set_header, h, "Bad Name", "x")
    expect(ok).to_be(false)
    expect(err).to_contain("invalid header name")
    for _ = 1, 2 do                                -- twice: a cached name still checks its value
      ok, err = pcall(h.set_header, h, "X-Ok", "a\r\nInjected: 1")
      expect(ok).to_be(false)
      expect(err).to_contain("the value of X-Ok must not contain a control character")
    end
    for _, ctl in ipairs { "\0", "\1", "\11", "\27", "\127", "\31", "\r" } do   -- NUL SOH VT ESC DEL US CR
      ok, err = pcall(h.set_header, h, "X-Ok", "a" .. ctl .. "b")
      expect(ok).to_be(false)
      expect(err).to_contain("must not contain a control character")
      ok, err = pcall(h.send, h, "x", "text/plain" .. ctl)
      expect(ok).to_be(false)
      expect(err).to_contain("content_type must not contain a control character")
    end
    h:set_header("X-Tab", "a\tb \128\255")         -- tab, space and obs-text bytes are allowed
    for _, name in ipairs { "Content-Length", "Date", "server" } do   -- the core writes these once
      ok, err = pcall(h.set_header, h, name, "5")
      expect(ok).to_be(false)
      expect(err).to_contain("is set by the server")
    end
    ok = pcall(h.set_header, h, "X-Ok", {})
    expect(ok).to_be(false)
  end)

  it("set_status takes final statuses only (200-599); set_cookie clamps a huge max_age", function()
    local h = http.new(0, "GET", "/", nil, nil, nil)
    for _, code in ipairs { 100, 101, 199, 600, 2.5 } do
      local ok, err = pcall(h.set_status, h, code)
      expect(ok).to_be(false)
      expect(err).to_contain("from 200 to 599")
    end
    h:set_status(205)
    h:set_cookie("a", "b", { max_age = 1e20 })
    expect(http.header_lines(h)).to_contain("Max-Age=2147483648")
    expect(pcall(h.set_cookie, h, "a", "b", { max_age = 0 / 0 })).to_be(false)
  end)

  it("a method called with a dot instead of a colon says so", function()
    local h = http.new(0, "GET", "/", nil, nil, nil)
    for name, args in pairs { header = { "x-a" }, headers = {}, cookie = { "sid" }, set_status = { 201 },
                              set_header = { "X-A", "1" }, set_cookie = { "a", "b" }, clear_cookie = { "a" },
                              redirect = { "/x" }, send = { "body" } } do
      local ok, err = pcall(h[name], unpack(args))
      expect(ok).to_be(false)
      expect(err).to_contain("wire.http." .. name .. ": call it with a colon: wire.http:" .. name)
    end
  end)
end)

describe("services.sleep", function()
  it("refuses NaN, infinity and negative or huge delays", function()
    local sleep = require("pikku.runtime").sleep
    for _, ms in ipairs { 0 / 0, math.huge, -1, 2 ^ 40 } do
      local ok, err = pcall(sleep, ms)
      expect(ok).to_be(false)
      expect(tostring(err)).to_contain("ms must be a number from 0 to")
    end
    expect(t.request { path = "/sleep?ms=nan" }.status).to_be(400)   -- the app's own check, too
  end)
end)

describe("services.eventhub:publish", function()
  it("refuses a message over the hub's 8 MiB limit, so it reaches no one rather than some", function()
    local eventhub = require("pikku.runtime").services().eventhub
    local ok, err = pcall(eventhub.publish, eventhub, "big", { blob = string.rep("x", 8 * 1024 * 1024) })
    expect(ok).to_be(false)
    expect(tostring(err)).to_contain("the limit of a message between workers")
    expect(pcall(eventhub.publish, eventhub, "small", { blob = "x" })).to_be(true)
  end)
end)

describe("wire.http.remote_addr", function()
  it("is 127.0.0.1 for an in-process request", function()
    expect(t.request { path = "/whoami" }.json).to_equal { addr = "127.0.0.1", port = 0 }
  end)
end)
