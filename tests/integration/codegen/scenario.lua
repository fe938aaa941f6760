-- The generated client.lua against a live apps/todos: CRUD, RPC, login, a 422, a channel event.
-- Run: luajit scenario.lua CLIENT_DIR BASE_URL (plain LuaJIT + lua-cjson); prints one "ok <step>" per step.
local dir, base_url = arg[1], arg[2]
package.path = dir .. "/?.lua;" .. package.path
local client = require "client"

local function check(cond, step, detail)
  if not cond then
    io.stderr:write("FAIL ", step, ": ", tostring(detail), "\n")
    os.exit(1)
  end
  print("ok " .. step)
end

local c = client.new { base_url = base_url }

-- CRUD
local created, err = c:create_todo { title = "from lua", priority = "high", tags = client.array() }
check(created and created.todo.title == "from lua", "create", err)
local id = created.todo.id
local got = c:get_todo { id = id }
check(got and got.todo.id == id and got.todo.priority == "high", "get", got)
local list = c:list_todos { completed = false }
local found = false
for _, t in ipairs(list and list.todos or {}) do if t.id == id then found = true end end
check(found and list.total >= 1, "list", list)
local upd = c:update_todo { id = id, title = "renamed from lua" }
check(upd and upd.success and upd.todo.title == "renamed from lua", "update", upd)
local done = c:complete_todo { id = id }
check(done and done.todo.completed == true, "complete", done)

-- RPC
local g, gerr = c:rpc("greet", { name = "Lua" })
check(g and g.message == "Hello, Lua!", "rpc", gerr)

-- a 422 as an error value
local none, verr = c:create_todo { title = "" }
check(none == nil and client.is_error(verr) and verr.status == 422 and verr.name == "UnprocessableContent"
  and type(verr.payload.errors) == "table" and verr.payload.errors[1].path == "/title" and verr.errorId ~= nil,
  "validation error", verr)

-- without a session, then login (cookie jar), then with the bearer token
local _, merr = client.new { base_url = base_url }:get_me()
check(merr and merr.status == 401 and merr.name == "MissingSession", "missing session", merr)
local login, lerr = c:login { username = "demo", password = "test" }
check(login and login.user.id == "user1" and login.token, "login", lerr)
local me, meerr = c:get_me()
check(me and me.user.username == "demo", "cookie session", meerr)
local b = client.new { base_url = base_url, cookies = false }
b:set_token(login.token)
local me2, me2err = b:get_me()
check(me2 and me2.user.id == "user1", "bearer session", me2err)
local _, ferr = b:admin_stats()
check(ferr and ferr.status == 403 and ferr.name == "Forbidden", "forbidden", ferr)

-- a channel session: auth, subscribe, an event from an HTTP change, a correlated reply
local ch = c:todos_live_channel()
local a, aerr = ch:auth { username = "demo", password = "test" }
check(a and a.authenticated == true and a.action == "auth", "channel auth", aerr)
local events = {}
local sok, serr = ch:subscribe("todo-created", function(data) events[#events + 1] = data end)
check(sok, "channel subscribe", serr)
local made = c:create_todo { title = "event from lua" }
for _ = 1, 50 do
  if #events > 0 then break end
  ch:poll(100)
end
check(#events == 1 and events[1].title == "event from lua" and events[1].id == made.todo.id, "channel event", #events)
local l2, l2err = ch:list { completed = false }
check(l2 and l2.action == "list" and l2.total >= 1, "channel reply", l2err)
local _, cerr = ch:create { title = "" }
check(cerr and cerr.name == "UnprocessableContent" and cerr.status == 422, "channel error frame", cerr)
ch:close()

-- delete
local del = c:delete_todo { id = id }
check(del and del.success == true, "delete", del)
print("lua client scenario passed")
