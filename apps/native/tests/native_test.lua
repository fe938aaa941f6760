-- Tests of apps/native run by `pikku test apps/native` (which builds native/*.c first): the three ways into C.
-- luacheck: read globals describe it before_each after_each expect t

local chain_lua = require "chain_lua"

describe("native functions", function()
  it("chain_sha256 answers the SHA-256 of the seed for one round", function()
    local res = t.request { method = "POST", path = "/native/chain", body = { seed = "abc", rounds = 1 } }
    expect(res.status).to_equal(200)
    expect(res.json.hex).to_equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  end)

  it("the C and the Lua chains agree", function()
    for _, rounds in ipairs { 1, 2, 17, 500 } do
      local c = t.request { method = "POST", path = "/native/chain", body = { seed = "pikku", rounds = rounds } }
      local l = t.request { method = "POST", path = "/lua/chain", body = { seed = "pikku", rounds = rounds } }
      expect(c.json).to_equal(l.json)
      expect(c.json.hex).to_equal(chain_lua.chain("pikku", rounds))
    end
  end)

  it("its input is validated by its schema like a Lua function's", function()
    local res = t.request { method = "POST", path = "/native/chain", body = { seed = "abc", rounds = 0 } }
    expect(res.status).to_equal(422)
    expect(res.json.payload.errors[1].path).to_equal("/rounds")
    res = t.request { method = "POST", path = "/native/chain", body = { seed = 5, rounds = 1 } }
    expect(res.status).to_equal(422)
  end)

  it("is called directly and through RPC like any function", function()
    expect(t.call("chainNative", { seed = "abc", rounds = 1 }).hex)
      .to_equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    local res = t.request { method = "POST", path = "/rpc/chainNative", body = { data = { seed = "x", rounds = 3 } } }
    expect(res.status).to_equal(200)
    expect(res.json.hex).to_equal(chain_lua.chain("x", 3))
  end)

  it("reads the session, arrays of the input, and answers null for no user", function()
    local res = t.request { path = "/native/greet/bob", headers = { ["x-user"] = "alice" } }
    expect(res.json).to_equal { greeting = "hello, bob", user = "alice", tags = {} }
    res = t.request { method = "POST", path = "/native/greet", body = { name = "zed", tags = { "a", "b" } } }
    expect(res.json.tags).to_equal { "a", "b" }
    expect(res.json.user).to_equal(require("pikku.json").null)
  end)

  it("fails with a pikku error and its payload", function()
    local res = t.request { method = "POST", path = "/native/greet", body = { name = "!x" } }
    expect(res.status).to_equal(422)
    expect(res.json.message).to_equal("a name may not start with !")
    expect(res.json.payload).to_equal { field = "name" }
    t.expect_error(function() t.call("greetNative", { name = "!y" }) end, "UnprocessableContent")
  end)

  it("publishes to a topic", function()
    local listener = t.subscribe("greetings")
    t.request { path = "/native/greet/eve" }
    expect(listener:receive(1000)).to_equal { greeted = "eve" }
  end)

  it("answers over a channel", function()
    local conn = t.channel("/ws/native")
    local reply = conn:call { action = "chain", seed = "abc", rounds = 1 }
    expect(reply.hex).to_equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(reply.action).to_equal("chain")
    reply = conn:call { action = "chain", seed = "abc", rounds = -1 }
    expect(reply.errorName).to_equal("UnprocessableContent")
    conn:close()
  end)
end)

describe("a Lua C module", function()
  it("is found by require wherever the server was started", function()
    local res = t.request { method = "POST", path = "/text/stats", body = { text = "one two\nthree" } }
    expect(res.json).to_equal { words = 3, lines = 2, bytes = 13, module = "1" }
  end)
end)

describe("FFI", function()
  it("calls the app's own library and the host's pikku.h", function()
    local res = t.request { method = "POST", path = "/vec/sum", body = { xs = { 1, 5, 2.5 } } }
    expect(res.json.sum).to_equal(8.5)
    expect(res.json.max).to_equal(5)
    expect(res.json.host).to_equal(require("pikku").VERSION)
  end)
end)
