-- Names in generated code: PascalCase types, camelCase TypeScript methods, snake_case Lua methods.
local M = {}

local gsub, upper, lower, sub, find, format = string.gsub, string.upper, string.lower, string.sub,
  string.find, string.format
local pairs, sort = pairs, table.sort

-- Words of a name: "todos-live", "listTodos", "list_todos" -> { "todos", "live" }, ...
local function words(s)
  s = gsub(s, "(%l)(%u)", "%1 %2")
  s = gsub(s, "(%u)(%u%l)", "%1 %2")
  local out = {}
  for w in s:gmatch("[%w]+") do out[#out + 1] = lower(w) end
  return out
end

local function cap(w) return upper(sub(w, 1, 1)) .. sub(w, 2) end

--- M.pascal("todos-live") -> "TodosLive"
function M.pascal(s)
  local out = {}
  for i, w in ipairs(words(s)) do out[i] = cap(w) end
  local r = table.concat(out)
  if r == "" or find(r, "^%d") then r = "T" .. r end
  return r
end

--- M.camel("todos-live") -> "todosLive"
function M.camel(s)
  local p = M.pascal(s)
  return lower(sub(p, 1, 1)) .. sub(p, 2)
end

--- M.snake("listTodos") -> "list_todos"
function M.snake(s)
  local r = table.concat(words(s), "_")
  if r == "" or find(r, "^%d") then r = "f_" .. r end
  return r
end

local TS_RESERVED = {}
for w in ([[break case catch class const continue debugger default delete do else enum export extends
  false finally for function if import in instanceof new null return super switch this throw true try
  typeof var void while with as implements interface let package private protected public static yield
  any boolean number string symbol type from of]]):gmatch("%S+") do TS_RESERVED[w] = true end

--- M.ts_key("a-b") -> '"a-b"', M.ts_key("ok") -> "ok": an object key in TypeScript source.
function M.ts_key(k)
  if find(k, "^[%a_$][%w_$]*$") then return k end
  return format("%q", k)
end

--- M.ts_ident(s) -> s made a valid, unreserved TypeScript identifier.
function M.ts_ident(s)
  local r = gsub(s, "[^%w_$]", "_")
  if find(r, "^%d") or TS_RESERVED[r] then r = "_" .. r end
  return r
end

--- M.sorted_keys(t) -> t's keys in order: generated code lists names the same way every time.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

local LUA_RESERVED = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat return
  then true until while]]):gmatch("%S+") do LUA_RESERVED[w] = true end

--- M.lua_ident(s) -> s made a valid Lua identifier.
function M.lua_ident(s)
  local r = gsub(s, "[^%w_]", "_")
  if find(r, "^%d") or LUA_RESERVED[r] then r = "_" .. r end
  return r
end

return M
