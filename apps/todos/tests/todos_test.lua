-- The todo functions called directly (t.call, with a fresh store each test) and through their
-- luacheck: globals describe it before_each after_each expect t
-- routes in-process (t.request, on the app's own store: a temporary file under `pikku test`).
local helpers = require "tests.helpers"
local todos = require "functions.todos"
local cjson = require "cjson.safe"

describe("todo functions", function()
  local store, cleanup, opts
  before_each(function()
    store, cleanup = helpers.fresh_store()
    opts = { services = { store = store } }
  end)
  after_each(function() cleanup() end)

  it("listTodos: user1's todos by default, with a total", function()
    local res = t.call(todos.list_todos, {}, opts)
    expect(res.total).to_equal(2)
    expect(#res.todos).to_equal(2)
    expect(t.call(todos.list_todos, { userId = "user2" }, opts).total).to_equal(0)
  end)

  it("listTodos: filters by completed, priority and tag", function()
    expect(t.call(todos.list_todos, { completed = true }, opts).todos[1].id).to_equal("todo2")
    expect(t.call(todos.list_todos, { priority = "high" }, opts).todos[1].id).to_equal("todo1")
    expect(t.call(todos.list_todos, { tag = "project" }, opts).todos[1].id).to_equal("todo2")
    expect(t.call(todos.list_todos, { tag = "pikku", completed = false }, opts).total).to_equal(1)
  end)

  it("listTodos: a bad priority is 422", function()
    t.expect_error(function() t.call(todos.list_todos, { priority = "urgent" }, opts) end, "UnprocessableContent")
  end)

  it("getTodo: {todo}, or {todo = null} when missing", function()
    expect(t.call(todos.get_todo, { id = "todo1" }, opts).todo.title).to_equal("Learn Pikku")
    expect(t.call(todos.get_todo, { id = "todo42" }, opts).todo).to_be(cjson.null)
  end)

  it("createTodo: defaults priority to medium and tags to []", function()
    local todo = t.call(todos.create_todo, { title = "Write tests" }, opts).todo
    expect(todo.title).to_equal("Write tests")
    expect(todo.userId).to_equal("user1")
    expect(todo.priority).to_equal("medium")
    expect(#todo.tags).to_equal(0)
    expect(todo.completed).to_be(false)
    expect(store:get(todo.id).title).to_equal("Write tests")
  end)

  it("createTodo: every field, for user2", function()
    local todo = t.call(todos.create_todo, {
      userId = "user2", title = "Ship", description = "v1", priority = "high", dueDate = "2030-01-31",
      tags = { "release" },
    }, opts).todo
    expect(todo.userId).to_equal("user2")
    expect(todo.description).to_equal("v1")
    expect(todo.dueDate).to_equal("2030-01-31")
    expect(todo.tags).to_equal { "release" }
  end)

  it("createTodo: a title over 200 characters, or more than 20 tags, is 422", function()
    local e = t.expect_error(function() t.call(todos.create_todo, { title = string.rep("x", 201) }, opts) end, 422)
    expect(e.payload.errors[1].path).to_equal("/title")
    local tags = {}
    for i = 1, 21 do tags[i] = "t" .. i end
    t.expect_error(function() t.call(todos.create_todo, { title = "x", tags = tags }, opts) end, 422)
    expect(t.call(todos.create_todo, { title = string.rep("x", 200) }, opts).todo.title).to_equal(string.rep("x", 200))
  end)

  it("a change whose event cannot be published is still saved and answered", function()
    local failing = { publish = function() error("the hub queue is full", 0) end }
    local o = { services = { store = store, eventhub = failing } }
    local todo = t.call(todos.create_todo, { title = "Saved anyway" }, o).todo
    expect(todo.title).to_equal("Saved anyway")
    expect(t.call(todos.get_todo, { id = todo.id }, opts).todo.title).to_equal("Saved anyway")
  end)

  it("createTodo: a missing or empty title is 422 naming /title", function()
    local e = t.expect_error(function() t.call(todos.create_todo, {}, opts) end, "UnprocessableContent")
    expect(e.payload.errors[1].path).to_equal("/title")
    t.expect_error(function() t.call(todos.create_todo, { title = "" }, opts) end, 422)
    t.expect_error(function() t.call(todos.create_todo, { title = "x", priority = "urgent" }, opts) end, 422)
  end)

  it("createTodo: an unknown user is 404", function()
    t.expect_error(function() t.call(todos.create_todo, { title = "x", userId = "ghost" }, opts) end, "NotFound")
  end)

  it("updateTodo: changes fields; a missing todo is {todo = null, success = false}", function()
    local res = t.call(todos.update_todo, { id = "todo1", title = "Learn Pikku well", priority = "low" }, opts)
    expect(res.success).to_be(true)
    expect(res.todo.title).to_equal("Learn Pikku well")
    expect(res.todo.priority).to_equal("low")
    expect(res.todo.tags).to_equal { "learning", "pikku" }
    expect(t.call(todos.update_todo, { id = "todo99", title = "x" }, opts))
      .to_equal { todo = cjson.null, success = false }
    t.expect_error(function() t.call(todos.update_todo, { id = "todo1", title = "" }, opts) end, 422)
  end)

  it("completeTodo: marks it completed", function()
    local res = t.call(todos.complete_todo, { id = "todo1" }, opts)
    expect(res.success).to_be(true)
    expect(res.todo.completed).to_be(true)
    expect(t.call(todos.complete_todo, { id = "todo99" }, opts).success).to_be(false)
  end)

  it("deleteTodo: {success = true} once, then false", function()
    expect(t.call(todos.delete_todo, { id = "todo2" }, opts)).to_equal { success = true }
    expect(t.call(todos.delete_todo, { id = "todo2" }, opts)).to_equal { success = false }
    expect(store:get("todo2")).to_be_nil()
  end)

  it("the todo functions are public: no session needed", function()
    expect(t.call(todos.list_todos, {}, { services = { store = store }, session = nil }).total).to_equal(2)
  end)
end)

describe("todo routes in-process", function()
  it("GET /todos and GET /todos/:id", function()
    local res = t.request { path = "/todos?completed=false" }
    expect(res.status).to_equal(200)
    expect(res.json.total).to_be_truthy()
    res = t.request { path = "/todos/todo1" }
    expect(res.status).to_equal(200)
    expect(res.json.todo.id).to_equal("todo1")
    res = t.request { path = "/todos/nope" }
    expect(res.status).to_equal(200)
    expect(res.body).to_equal('{"todo":null}')
  end)

  it("POST, PUT, complete and DELETE a todo", function()
    local res = t.request { method = "POST", path = "/todos", body = { title = "In-process", tags = { "t" } } }
    expect(res.status).to_equal(200)
    local id = res.json.todo.id
    res = t.request { method = "PUT", path = "/todos/" .. id, body = { priority = "high" } }
    expect(res.json.success).to_be(true)
    expect(res.json.todo.priority).to_equal("high")
    res = t.request { method = "POST", path = "/todos/" .. id .. "/complete" }
    expect(res.json.todo.completed).to_be(true)
    res = t.request { method = "DELETE", path = "/todos/" .. id }
    expect(res.json).to_equal { success = true }
  end)

  it("POST /todos without a title is 422 with payload.errors", function()
    local res = t.request { method = "POST", path = "/todos", body = { title = "" } }
    expect(res.status).to_equal(422)
    expect(res.json.name).to_equal("UnprocessableContent")
    expect(res.json.payload.errors[1].path).to_equal("/title")
  end)
end)
