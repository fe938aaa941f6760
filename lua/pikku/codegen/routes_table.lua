-- `pikku routes APP_DIR`: every wiring of a described app as an aligned table, for review.
local M = {}

local names = require "pikku.codegen.names"

local ipairs, type, tostring = ipairs, type, tostring
local match, rep, concat, format = string.match, string.rep, table.concat, string.format

-- The name of a schema in the table: a named schema's own name (Todo, Todo[]), else the type name
-- client.ts gives it (<OperationId>Input), "-" when there is none.
local function schema_name(s, base)
  if s == nil then return "-" end
  if type(s) == "table" then
    local ref = s["$ref"]
    if type(ref) == "string" then return match(ref, "([^/]+)$") end
    if s.type == "array" and type(s.items) == "table" and type(s.items["$ref"]) == "string" then
      return match(s.items["$ref"], "([^/]+)$") .. "[]"
    end
  end
  return base
end
M.schema_name = schema_name

local function func_name(x)
  if x.func_name then return x.func_name end
  return "(" .. (match(x.place or "?", "([^/]+)$") or "?") .. ")"
end

local function perms(list) return #list > 0 and concat(list, ",") or "-" end

--- M.rows(model) -> { { transport, route, function, auth, permissions, input, output }, ... }
function M.rows(model)
  local rows = {}
  for _, op in ipairs(model.operations) do
    local base = names.pascal(op.id)
    rows[#rows + 1] = { op.kind, op.method .. " " .. op.route, func_name(op), op.auth and "session" or "public",
                        perms(op.permissions), schema_name(op.input, base .. "Input"),
                        schema_name(op.output, base .. "Output") }
  end
  for _, ch in ipairs(model.channels) do
    rows[#rows + 1] = { "channel", format("GET %s (%s)", ch.route, ch.name), "-",
                        ch.auth == true and "session" or "per message", "-", "-", "-" }
    for _, k in ipairs { "on_connect", "on_disconnect", "on_message", "on_binary" } do
      if ch[k] then
        rows[#rows + 1] = { "channel", format("%s %s", ch.name, k), ch[k].def.name or "(" .. k .. ")",
                            "public", "-", "-", "-" }
      end
    end
    for _, key in ipairs(ch.keys) do
      for _, h in ipairs(key.handlers) do
        local base = names.pascal(ch.name) .. names.pascal(h.value)
        rows[#rows + 1] = { "channel", format("%s %s=%s", ch.name, key.key, h.value), func_name(h),
                            h.auth and "session" or "public", perms(h.permissions),
                            schema_name(h.input, base .. "Input"), schema_name(h.output, base .. "Output") }
      end
    end
  end
  for _, o in ipairs(model.others) do
    rows[#rows + 1] = { o.transport, tostring(o.route), o.def.name or "-", o.auth and "session" or "public",
                        perms(o.permissions), schema_name(o.input, "-"), schema_name(o.output, "-") }
  end
  return rows
end

--- M.render(model) -> the table as text: a header, a rule, one line per wiring, columns aligned.
function M.render(model)
  local header = { "TRANSPORT", "ROUTE", "FUNCTION", "AUTH", "PERMISSIONS", "INPUT", "OUTPUT" }
  local rows = M.rows(model)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do if #c > widths[i] then widths[i] = #c end end
  end
  local function line(r)
    local cells = {}
    for i, c in ipairs(r) do
      cells[i] = i < #r and (c .. rep(" ", widths[i] - #c)) or c
    end
    return concat(cells, "  ")
  end
  local out = { line(header) }
  local rule = {}
  for i, w in ipairs(widths) do rule[i] = rep("-", w) end
  out[#out + 1] = concat(rule, "  ")
  for _, r in ipairs(rows) do out[#out + 1] = line(r) end
  return concat(out, "\n") .. "\n"
end

return M
