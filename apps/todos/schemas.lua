-- JSON Schemas of the todos app (the shapes of Pikku's todo sample). Todo and User are
-- registered by name with pikku.schema and referenced with $ref where the schema engine exists.
local pikku = require "pikku"
local json = require "pikku.json"

local pairs = pairs

local M = {}

local function str(extra)
  local s = { type = "string" }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

M.Priority = { type = "string", enum = { "low", "medium", "high" } }
-- What is stored (and answered)
local TagList = { type = "array", items = { type = "string" } }
-- What may be sent: lengths have limits (the sample has none) so one user cannot make lists huge
local Tags = { type = "array", items = { type = "string", minLength = 1, maxLength = 50 }, maxItems = 20 }

M.Todo = {
  type = "object",
  properties = {
    id = str(),
    userId = str(),
    title = str(),
    description = str(),
    completed = { type = "boolean" },
    priority = M.Priority,
    dueDate = str(),
    tags = TagList,
    createdAt = str { format = "date-time" },
    updatedAt = str { format = "date-time" },
  },
  required = { "id", "userId", "title", "completed", "priority", "tags", "createdAt", "updatedAt" },
  additionalProperties = false,
}

M.User = {
  type = "object",
  properties = {
    id = str(),
    username = str(),
    email = str { format = "email" },
    role = { type = "string", enum = { "user", "admin" } },
  },
  required = { "id", "username", "email", "role" },
  additionalProperties = false,
}

-- Named schemas, referenced with $ref.
pikku.schema("Todo", M.Todo)
pikku.schema("User", M.User)
local TodoRef, UserRef = { ["$ref"] = "#/$defs/Todo" }, { ["$ref"] = "#/$defs/User" }
local NullableTodo = { anyOf = { TodoRef, { type = "null" } } }

-- ---- inputs -----------------------------------------------------------------------------------

M.ListTodosInput = {
  type = "object",
  properties = {
    userId = str { description = "User ID (the demo user, user1, if not given)" },
    completed = { type = "boolean" },
    priority = M.Priority,
    tag = str(),
  },
}

M.TodoIdInput = {
  type = "object",
  properties = { id = str { description = "Todo ID" } },
  required = { "id" },
}

M.CreateTodoInput = {
  type = "object",
  properties = {
    userId = str { description = "User ID (the demo user, user1, if not given)" },
    title = str { minLength = 1, maxLength = 200 },
    description = str { maxLength = 2000 },
    priority = { type = "string", enum = { "low", "medium", "high" }, default = "medium" },
    dueDate = str { maxLength = 40 },
    tags = { type = "array", items = Tags.items, maxItems = Tags.maxItems, default = json.array() },
  },
  required = { "title" },
}

M.UpdateTodoInput = {
  type = "object",
  properties = {
    id = str { description = "Todo ID" },
    title = str { minLength = 1, maxLength = 200 },
    description = { type = { "string", "null" }, maxLength = 2000 },
    priority = M.Priority,
    dueDate = { type = { "string", "null" }, maxLength = 40 },
    tags = Tags,
    completed = { type = "boolean" },
  },
  required = { "id" },
}

M.LoginInput = {
  type = "object",
  properties = { username = str { minLength = 1 }, password = str { minLength = 1 } },
  required = { "username", "password" },
}

M.GreetInput = {
  type = "object",
  properties = { name = str(), greeting = str() },
  required = { "name" },
}

-- ---- outputs ----------------------------------------------------------------------------------

M.TodoListOutput = {
  type = "object",
  properties = { todos = { type = "array", items = TodoRef }, total = { type = "integer" } },
  required = { "todos", "total" },
}
M.TodoOutput = {
  type = "object",
  properties = { todo = NullableTodo },
  required = { "todo" },
}
M.CreateTodoOutput = {
  type = "object",
  properties = { todo = TodoRef },
  required = { "todo" },
}
M.TodoSuccessOutput = {
  type = "object",
  properties = { todo = NullableTodo, success = { type = "boolean" } },
  required = { "todo", "success" },
}
M.SuccessOutput = {
  type = "object",
  properties = { success = { type = "boolean" } },
  required = { "success" },
}
M.LoginOutput = {
  type = "object",
  properties = { token = str(), user = UserRef },
  required = { "token", "user" },
}
M.UserOutput = {
  type = "object",
  properties = { user = UserRef },
  required = { "user" },
}
M.StatsOutput = {
  type = "object",
  properties = { users = { type = "integer" }, todos = { type = "integer" } },
  required = { "users", "todos" },
}
M.GreetOutput = {
  type = "object",
  properties = { message = str(), timestamp = { type = "number" } },
  required = { "message", "timestamp" },
}

return M
