-- The generated client.lua inside the host (copied into a copy of apps/todos as todos_client.lua):
-- in-process HTTP and channel transports under pikku test.
-- luacheck: globals describe it expect
local client = require "todos_client"

describe("client.lua inside pikku test", function()
  it("CRUD, RPC, a 422 and login in-process", function()
    local c = client.new {}
    local created = assert(c:create_todo { title = "in host", tags = client.array() })
    expect(created.todo.title).to_equal("in host")
    local got = assert(c:get_todo { id = created.todo.id })
    expect(got.todo.id).to_equal(created.todo.id)
    local list = assert(c:list_todos { completed = false })
    expect(list.total >= 1).to_be_truthy()
    expect(assert(c:rpc("greet", { name = "Host" })).message).to_equal("Hello, Host!")
    local none, err = c:create_todo { title = "" }
    expect(none).to_be_nil()
    expect(err.name).to_equal("UnprocessableContent")
    expect(err.status).to_equal(422)
    expect(err.payload.errors[1].path).to_equal("/title")
    local _, missing = c:get_me()
    expect(missing.name).to_equal("MissingSession")
    local login = assert(c:login { username = "demo", password = "test" })
    expect(assert(c:get_me()).user.id).to_equal("user1")
    local b = client.new { cookies = false }
    b:set_token(login.token)
    expect(assert(b:get_me()).user.username).to_equal("demo")
  end)

  it("a channel: auth, subscribe, an event, an error frame", function()
    local c = client.new {}
    local ch = c:todos_live_channel()
    local a = assert(ch:auth { username = "demo", password = "test" })
    expect(a.authenticated).to_equal(true)
    local events = {}
    assert(ch:subscribe("todo-created", function(data) events[#events + 1] = data end))
    local made = assert(c:create_todo { title = "event in host" })
    for _ = 1, 20 do
      if #events > 0 then break end
      ch:poll(50)
    end
    expect(#events).to_equal(1)
    expect(events[1].id).to_equal(made.todo.id)
    local _, err = ch:create { title = "" }
    expect(err.name).to_equal("UnprocessableContent")
    ch:close()
  end)
end)
