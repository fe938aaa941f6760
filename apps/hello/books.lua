-- A tiny in-memory book store for the hello app (required as "books").
local M = {}

local BOOKS = {
  ["1"] = { id = "1", title = "Programming in Lua", author = "Roberto Ierusalimschy" },
}

--- books.get(id) -> the book or nil
function M.get(id)
  return BOOKS[id]
end

return M
