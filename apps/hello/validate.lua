-- The peers' POST /validate workload: a 10-field body checked against a JSON Schema in C.
local M = {}

M.schema = {
  type = "object",
  properties = {
    name = { type = "string", minLength = 1, maxLength = 64 },
    email = { type = "string", pattern = [[^[^@\s]+@[^@\s]+\.[^@\s]+$]] },
    age = { type = "integer", minimum = 0, maximum = 150 },
    active = { type = "boolean" },
    tags = { type = "array", items = { type = "string" }, maxItems = 10 },
    role = { type = "string", enum = { "admin", "user", "guest" } },
    score = { type = "number", minimum = 0, maximum = 100 },
    country = { type = "string", minLength = 2, maxLength = 2 },
    zip = { type = "string", pattern = "^[0-9]{5}$" },
    note = { type = "string", maxLength = 200 },
  },
  required = { "name", "email", "age", "active", "tags", "role", "score", "country", "zip" },
  additionalProperties = false,
}

-- One middleware and one permission, as the benchmark asks: both cheap, both really run.
function M.stamp(_, wire, next)
  local res = next()
  wire.http:set_header("X-Validated", "1")
  return res
end

function M.roles_known(_, data)
  return data.role ~= nil
end

function M.echo(_, data)
  return data
end

return M
