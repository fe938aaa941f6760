-- The todos-live channel in-process (t.channel) and the events every todo change publishes
-- (t.subscribe), on the app's own store (a temporary file under `pikku test`).
-- luacheck: globals describe it before_each after_each expect t

local function connect()
  local ws = t.channel "/"
  expect(ws:receive()).to_equal { connected = true }
  return ws
end

local function login(ws)
  expect(ws:call { action = "auth", username = "demo", password = "test", id = "a" })
    .to_equal { action = "auth", id = "a", authenticated = true, userId = "user1" }
end

describe("todos-live", function()
  it("every action but auth needs the session auth sets", function()
    local ws = connect()
    -- (valid input: as over HTTP, validation comes before the session check)
    local messages = {
      { action = "list", id = 1 }, { action = "create", title = "x", id = 2 }, { action = "complete", id = "todo1" },
      { action = "subscribe", topic = "todo-created", id = 4 },
      { action = "unsubscribe", topic = "todo-created", id = 5 },
    }
    for _, m in ipairs(messages) do
      local e = ws:call(m)
      expect(e.errorName).to_be("MissingSession")
      expect(e.action).to_be(m.action)
      expect(e.id).to_be(m.id)
    end
    local e = ws:call { action = "auth", username = "demo", password = "nope" }
    expect(e.errorName).to_be("Unauthorized")
    expect(e.error).to_be("Invalid username or password")
    login(ws)
    local r = ws:call { action = "list", id = 1 }
    expect(r.action).to_be("list")
    expect(r.id).to_be(1)
    expect(r.total >= 2).to_be(true)
    ws:close()
  end)

  it("on the channel, list and create without a userId are about the signed-in user", function()
    local ws = connect()
    expect(ws:call { action = "auth", username = "admin", password = "password" }.userId).to_be("user2")
    local created = ws:call { action = "create", title = "admin's own" }
    expect(created.todo.userId).to_be("user2")
    local listed = ws:call { action = "list" }
    expect(listed.total).to_be(1)
    expect(listed.todos[1].id).to_be(created.todo.id)
    -- naming a user still works, as over HTTP
    expect(ws:call { action = "list", userId = "user1" }.total >= 2).to_be(true)
    ws:close()
  end)

  it("unknown actions and bad input get error frames; the connection stays open", function()
    local ws = connect()
    login(ws)
    expect(ws:call { action = "fly" }.errorName).to_be("NotFound")
    local e = ws:call { action = "create", title = "" }
    expect(e.errorName).to_be("UnprocessableContent")
    expect(e.payload.errors[1].path).to_be("/title")
    expect(ws:call { action = "subscribe", topic = "weather" }.errorName).to_be("UnprocessableContent")
    expect(ws:call { action = "list" }.action).to_be("list")
  end)

  it("subscribers get the events of creates, completes, updates and deletes over any transport", function()
    local ws = connect()
    login(ws)
    for _, topic in ipairs { "todo-created", "todo-completed" } do
      expect(ws:call { action = "subscribe", topic = topic })
        .to_equal { action = "subscribe", subscribed = true, topic = topic }
    end
    -- over the channel: the event first, then the reply
    ws:send { action = "create", title = "Live one", id = 5 }
    local event = ws:receive()
    expect(event.topic).to_be("todo-created")
    expect(event.data.title).to_be("Live one")
    local reply = ws:receive()
    expect(reply.action).to_be("create")
    expect(reply.id).to_be(5)
    expect(reply.todo.id).to_be(event.data.id)
    -- complete takes the todo's id in "id" (its input declares it); the reply carries it back
    ws:send { action = "complete", id = reply.todo.id }
    event = ws:receive()
    expect(event.topic).to_be("todo-completed")
    expect(event.data.completed).to_be(true)
    expect(ws:receive()).to_equal { action = "complete", id = reply.todo.id, success = true, todo = event.data }
    -- over HTTP
    local res = t.request { method = "POST", path = "/todos", body = { title = "From HTTP" } }
    expect(res.status).to_be(200)
    event = ws:receive()
    expect(event).to_equal { topic = "todo-created", data = res.json.todo }
    -- unsubscribed: no more events
    expect(ws:call { action = "unsubscribe", topic = "todo-created" }.unsubscribed).to_be(true)
    t.request { method = "POST", path = "/todos", body = { title = "Unheard" } }
    expect(ws:receive(50)).to_be_nil()
    ws:close()
  end)

  it("PUT publishes todo-updated and DELETE todo-deleted", function()
    local updates, deletes = t.subscribe("todo-updated"), t.subscribe("todo-deleted")
    local id = t.request { method = "POST", path = "/todos", body = { title = "Doomed" } }.json.todo.id
    t.request { method = "PUT", path = "/todos/" .. id, body = { priority = "high" } }
    local event = updates:receive()
    expect(event.topic).to_be("todo-updated")
    expect(event.data.priority).to_be("high")
    t.request { method = "DELETE", path = "/todos/" .. id }
    event = deletes:receive()
    expect(event.topic).to_be("todo-deleted")
    expect(event.data.id).to_be(id)
    -- deleting what is not there publishes nothing
    t.request { method = "DELETE", path = "/todos/" .. id }
    expect(deletes:receive(50)).to_be_nil()
  end)

  it("a PUT that completes a todo publishes todo-completed too (once)", function()
    local completions = t.subscribe("todo-completed")
    local id = t.request { method = "POST", path = "/todos", body = { title = "Finish me" } }.json.todo.id
    t.request { method = "PUT", path = "/todos/" .. id, body = { title = "Still open" } }
    expect(completions:receive(50)).to_be_nil()
    t.request { method = "PUT", path = "/todos/" .. id, body = { completed = true } }
    local event = completions:receive()
    expect(event.topic).to_be("todo-completed")
    expect(event.data.id).to_be(id)
    t.request { method = "PUT", path = "/todos/" .. id, body = { completed = true } }   -- already done
    expect(completions:receive(50)).to_be_nil()
  end)

  it("a bearer token at the upgrade is the session", function()
    local login_res = t.request { method = "POST", path = "/login", body = { username = "demo", password = "test" } }
    local ws = t.channel { path = "/", headers = { authorization = "Bearer " .. login_res.json.token } }
    ws:receive()
    expect(ws:call { action = "list" }.action).to_be("list")
  end)

  it("GET / without the upgrade is the live page (the channel shares the path)", function()
    local r = t.request { path = "/" }
    expect(r.status).to_be(200)
    expect(r.headers["content-type"]).to_be("text/html; charset=utf-8")
    expect(r.body:find("todos-live", 1, true) ~= nil).to_be(true)
  end)

  it("GET /todos/stream in-process (t.sse): the subscription event, then each todo event", function()
    local stream = t.sse "/todos/stream"
    local first = stream:receive()
    expect(first.connected).to_be(true)
    expect(first.topics).to_contain("todo-created")
    t.request { method = "POST", path = "/todos", body = { title = "Streamed", userId = "user1" } }
    local event = stream:receive()
    expect(event.topic).to_be("todo-created")
    expect(event.data.title).to_be("Streamed")
    stream:close()
    expect(stream.closed).to_be_truthy()
    -- t.request cannot answer an event stream: it says to use t.sse
    local err = t.expect_error(function() t.request { path = "/todos/stream" } end)
    expect(tostring(err)).to_contain("t.sse")
  end)
end)
