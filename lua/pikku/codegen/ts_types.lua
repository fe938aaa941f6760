-- TypeScript type expressions from normalized JSON Schema (pikku.codegen.schema_out); errors name the function.
local M = {}

local json_out = require "pikku.codegen.json_out"
local names = require "pikku.codegen.names"
local schema_out = require "pikku.codegen.schema_out"

local type, pairs, ipairs, error, next, tostring = type, pairs, ipairs, error, next, tostring
local format, rep, find = string.format, string.rep, string.find
local sort, concat = table.sort, table.concat

local quote = json_out.quote

--- M.key(k) -> k as an object key in TypeScript source (quoted when not an identifier).
function M.key(k)
  if find(k, "^[%a_$][%w_$]*$") then return k end
  return quote(k)
end

--- M.type_name(component) -> the TypeScript name of a component schema
function M.type_name(name)
  return names.ts_ident(name)
end

-- A JSON value as a TypeScript literal type.
local function literal(v)
  if v == json_out.null then return "null" end
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" or t == "boolean" then return json_out.compact(v) end
  if t == "table" then
    if json_out.is_array(v) then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = literal(x) end
      return "[" .. concat(parts, ", ") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = M.key(k) .. ": " .. literal(v[k]) end
    return "{ " .. concat(parts, "; ") .. " }"
  end
  return "unknown"
end

local function union(parts)
  if #parts == 0 then return "never" end
  if #parts == 1 then return parts[1] end
  local seen, out = {}, {}
  for _, p in ipairs(parts) do   -- & binds tighter than |: no parentheses needed
    if not seen[p] then seen[p] = true out[#out + 1] = p end
  end
  return concat(out, " | ")
end

local function intersection(parts)
  if #parts == 1 then return parts[1] end
  local out = {}
  for i, p in ipairs(parts) do out[i] = find(p, "|", 1, true) and ("(" .. p .. ")") or p end
  return concat(out, " & ")
end

-- A doc comment for a property, or "".
local function doc(s, pad)
  if type(s) ~= "table" then return "" end
  local lines = {}
  if type(s.description) == "string" then lines[#lines + 1] = s.description end
  if type(s.format) == "string" then lines[#lines + 1] = "format: " .. s.format end
  if s.deprecated == true then lines[#lines + 1] = "@deprecated" end
  if #lines == 0 then return "" end
  local text = concat(lines, " · "):gsub("%*/", "* /"):gsub("\n", " ")
  return pad .. "/** " .. text .. " */\n"
end

local expr

-- ctx = { label, components }
local function object_type(s, ctx, where, depth)
  local props = type(s.properties) == "table" and s.properties or {}
  local required = {}
  for _, r in ipairs(type(s.required) == "table" and s.required or {}) do required[r] = true end
  local keys = {}
  for k in pairs(props) do keys[#keys + 1] = k end
  sort(keys)
  local ap = s.additionalProperties
  if #keys == 0 then
    if ap == false then return "Record<string, never>" end
    if type(ap) == "table" and next(ap) ~= nil then
      return "Record<string, " .. expr(ap, ctx, where .. "/additionalProperties", depth + 1) .. ">"
    end
    return "Record<string, unknown>"
  end
  local pad, inner = rep("  ", depth), rep("  ", depth + 1)
  local lines = { "{" }
  for _, k in ipairs(keys) do
    lines[#lines + 1] = doc(props[k], inner) .. inner .. M.key(k) .. (required[k] and "" or "?") .. ": "
      .. expr(props[k], ctx, where .. "/properties/" .. k, depth + 1) .. ";"
  end
  if ap == true or (type(ap) == "table") then
    lines[#lines + 1] = inner .. "[key: string]: unknown;"
  end
  -- a required property the object does not declare (required = { "x" } alone)
  local extra = {}
  for r in pairs(required) do if props[r] == nil then extra[#extra + 1] = r end end
  sort(extra)
  for _, r in ipairs(extra) do lines[#lines + 1] = inner .. M.key(r) .. ": unknown;" end
  lines[#lines + 1] = pad .. "}"
  return concat(lines, "\n")
end

local function array_type(s, ctx, where, depth)
  local prefix = s.prefixItems
  if type(prefix) == "table" and #prefix > 0 then
    local parts = {}
    for i, p in ipairs(prefix) do parts[i] = expr(p, ctx, where .. "/prefixItems/" .. (i - 1), depth) end
    if s.items ~= false then
      local rest = s.items ~= nil and expr(s.items, ctx, where .. "/items", depth) or "unknown"
      parts[#parts + 1] = "...Array<" .. rest .. ">"
    end
    return "[" .. concat(parts, ", ") .. "]"
  end
  if s.items == nil or s.items == true then return "Array<unknown>" end
  return "Array<" .. expr(s.items, ctx, where .. "/items", depth) .. ">"
end

local PRIM = { string = "string", number = "number", integer = "number", boolean = "boolean", null = "null" }

local function one_type(t, s, ctx, where, depth)
  if PRIM[t] then return PRIM[t] end
  if t == "array" then return array_type(s, ctx, where, depth) end
  if t == "object" then return object_type(s, ctx, where, depth) end
  error(format("%s: schema %s: type: %s cannot be expressed in TypeScript", ctx.label, where, tostring(t)), 0)
end

expr = function(s, ctx, where, depth)
  depth = depth or 0
  if s == true then return "unknown" end
  if s == false then return "never" end
  if type(s) ~= "table" then return "unknown" end
  if s["not"] ~= nil then
    error(format("%s: schema %s: not: a negation cannot be expressed in TypeScript"
      .. " (describe what is allowed instead, e.g. with enum or anyOf)", ctx.label, where), 0)
  end
  if s["if"] ~= nil then
    error(format("%s: schema %s: if/then/else cannot be expressed in TypeScript (use anyOf or oneOf)",
      ctx.label, where), 0)
  end
  local parts = {}
  local ref = s["$ref"]
  if ref then
    local n = schema_out.component_name(ref)
    if not n then
      error(format("%s: schema %s: $ref %s cannot be expressed in TypeScript", ctx.label, where, ref), 0)
    end
    parts[#parts + 1] = M.type_name(n)
  end
  if s.const ~= nil then
    parts[#parts + 1] = literal(s.const)
  elseif type(s.enum) == "table" then
    local lits = {}
    for i, v in ipairs(s.enum) do lits[i] = literal(v) end
    parts[#parts + 1] = union(lits)
  else
    local t = s.type
    if type(t) == "table" then
      local list = {}
      for _, one in ipairs(t) do list[#list + 1] = one_type(one, s, ctx, where, depth) end
      parts[#parts + 1] = union(list)
    elseif type(t) == "string" then
      parts[#parts + 1] = one_type(t, s, ctx, where, depth)
    elseif s.properties ~= nil or s.additionalProperties ~= nil then
      parts[#parts + 1] = object_type(s, ctx, where, depth)
    elseif s.items ~= nil or s.prefixItems ~= nil then
      parts[#parts + 1] = array_type(s, ctx, where, depth)
    end
  end
  for _, k in ipairs { "anyOf", "oneOf" } do
    if type(s[k]) == "table" then
      local list = {}
      for i, sub_s in ipairs(s[k]) do list[i] = expr(sub_s, ctx, where .. "/" .. k .. "/" .. (i - 1), depth) end
      parts[#parts + 1] = union(list)
    end
  end
  if type(s.allOf) == "table" then
    for i, sub_s in ipairs(s.allOf) do
      parts[#parts + 1] = expr(sub_s, ctx, where .. "/allOf/" .. (i - 1), depth)
    end
  end
  -- "unknown" adds nothing to an intersection
  local kept = {}
  for _, p in ipairs(parts) do if p ~= "unknown" then kept[#kept + 1] = p end end
  if #kept == 0 then return "unknown" end
  return intersection(kept)
end

--- M.expr(schema, label, depth?) -> a TypeScript type expression for a normalized schema; raises
--- '<label>: schema <pointer>: <keyword>: ... cannot be expressed in TypeScript'.
function M.expr(s, label, depth)
  return expr(s, { label = label }, "#", depth or 0)
end

--- M.literal(v) -> a JSON value as a TypeScript literal type
M.literal = literal

return M
