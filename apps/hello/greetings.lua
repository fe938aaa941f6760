-- Greeting and user helpers for the hello app (a plain module, required as "greetings").
local M = {}

function M.hello()
  return { message = "hello" }
end

function M.user(id)
  return { id = id, name = "user" .. id }
end

return M
