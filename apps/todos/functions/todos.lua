-- The todo functions of Pikku's sample: list, get, create, update, delete, complete. Public
-- (auth = false, as in the sample): the caller names the user with `userId` (default "user1").
local pikku = require "pikku"
local json = require "pikku.json"
local schemas = require "schemas"
local reminders = require "functions.reminders"

local json_null = json.null
local tostring = tostring

local M = {}

-- Every change is published to the channel subscribers of its topic, on every worker
-- (todo-created, todo-updated, todo-completed, todo-deleted), as { topic, data = the todo }.
-- The user a call is about: the `userId` it names; else, on the channel (where `auth` set a
-- session), the session's user; else nil (the store's default, user1, as in the sample).
local function user_of(data, wire)
  local uid = data.userId
  if (uid == nil or uid == "") and wire and wire.channel and wire.session then uid = wire.session.userId end
  return uid
end

-- The change is saved before it is published: a publish that fails (the queue to the other
-- workers is full under a burst) is logged, and the call still answers with what was saved.
local function publish(services, topic, todo)
  local ok, err = pcall(services.eventhub.publish, services.eventhub, topic, { topic = topic, data = todo })
  if not ok then
    services.logger.warn("%s for todo %s not published: %s", topic, tostring(todo.id),
      type(err) == "table" and tostring(err.message) or tostring(err))
  end
end

M.list_todos = pikku.func {
  name = "listTodos",
  title = "List a user's todos, newest first",
  description = "Filters: userId (default user1), completed, priority, tag.",
  tags = { "todos" },
  auth = false,
  input = schemas.ListTodosInput,
  output = schemas.TodoListOutput,
  func = function(services, data, wire)
    data.userId = user_of(data, wire)
    local todos = services.store:list(data)
    services.logger.info("listed %d todos for user %s", #todos, (data.userId ~= nil and data.userId ~= "") and tostring(data.userId) or "user1")
    return { todos = todos, total = #todos }
  end,
}

M.get_todo = pikku.func {
  name = "getTodo",
  title = "A todo by id ({todo = null} when there is none, as in Pikku's sample)",
  tags = { "todos" },
  auth = false,
  input = schemas.TodoIdInput,
  output = schemas.TodoOutput,
  func = function(services, data)
    return { todo = services.store:get(data.id) or json_null }
  end,
}

M.create_todo = pikku.func {
  name = "createTodo",
  title = "Create a todo",
  tags = { "todos" },
  auth = false,
  errors = { "NotFound" },   -- an unknown userId
  input = schemas.CreateTodoInput,
  output = schemas.CreateTodoOutput,
  func = function(services, data, wire)
    local todo = services.store:create(user_of(data, wire), data)
    services.logger.info("created todo %s for user %s", todo.id, todo.userId)
    publish(services, "todo-created", todo)
    reminders.remind_later(services, todo)   -- a todo with a dueDate gets a reminder job
    return { todo = todo }
  end,
}

M.update_todo = pikku.func {
  name = "updateTodo",
  title = "Update a todo's fields ({todo = null, success = false} when there is none)",
  tags = { "todos" },
  auth = false,
  input = schemas.UpdateTodoInput,
  output = schemas.TodoSuccessOutput,
  func = function(services, data)
    local before = data.completed == true and services.store:get(data.id)
    local todo = services.store:update(data.id, data)
    if todo then
      publish(services, "todo-updated", todo)
      -- completed by this update: the same event as POST /todos/:id/complete, too
      if before and not before.completed and todo.completed then publish(services, "todo-completed", todo) end
    end
    return { todo = todo or json_null, success = todo ~= nil }
  end,
}

M.delete_todo = pikku.func {
  name = "deleteTodo",
  title = "Delete a todo",
  tags = { "todos" },
  auth = false,
  input = schemas.TodoIdInput,
  output = schemas.SuccessOutput,
  func = function(services, data)
    local todo = services.store:get(data.id)
    local success = services.store:delete(data.id)
    if success and todo then publish(services, "todo-deleted", todo) end
    return { success = success }
  end,
}

M.complete_todo = pikku.func {
  name = "completeTodo",
  title = "Mark a todo as completed",
  tags = { "todos" },
  auth = false,
  input = schemas.TodoIdInput,
  output = schemas.TodoSuccessOutput,
  func = function(services, data)
    local todo = services.store:complete(data.id)
    if todo then publish(services, "todo-completed", todo) end
    return { todo = todo or json_null, success = todo ~= nil }
  end,
}

return M
