-- JSON Schema as OpenAPI 3.1 and the generators want it: refs to components, 2020-12 forms, arrays marked.
local M = {}

local json_out = require "pikku.codegen.json_out"

local type, pairs, ipairs, error, tonumber = type, pairs, ipairs, error, tonumber
local char = string.char
local format, match, sub, gsub = string.format, string.match, string.sub, string.gsub

local array, is_array = json_out.array, json_out.is_array

local SCHEMA_MAP = { properties = true, patternProperties = true, dependentSchemas = true }
local SCHEMA_ONE = { items = true, additionalProperties = true, ["not"] = true, contains = true,
                     propertyNames = true, ["if"] = true, ["then"] = true, ["else"] = true,
                     unevaluatedProperties = true, unevaluatedItems = true, additionalItems = true,
                     contentSchema = true }
local SCHEMA_LIST = { allOf = true, anyOf = true, oneOf = true, prefixItems = true }
local VALUE_LIST = { required = true, enum = true, examples = true }
local VALUES = { const = true, default = true, example = true }

M.COMPONENTS = "#/components/schemas/"

-- A JSON value copied, with its arrays marked (so an empty one stays []).
local function copy_value(v)
  if type(v) ~= "table" or v == json_out.null then return v end
  local out = {}
  if is_array(v) then
    for i, x in ipairs(v) do out[i] = copy_value(x) end
    return array(out)
  end
  for k, x in pairs(v) do out[k] = copy_value(x) end
  return out
end
M.copy_value = copy_value

-- The name a $ref points at, from the forms docs/schemas.md lists; nil for other pointers.
-- Returns name, kind ("local": $defs/definitions first, "registered": components only).
local function ref_name(ref)
  local n = match(ref, "^#/%$defs/([^/]+)$") or match(ref, "^#/definitions/([^/]+)$")
  if n then return n, "local" end
  n = match(ref, "^#/components/schemas/([^/]+)$")
  if n then return n, "registered" end
  if sub(ref, 1, 1) ~= "#" then return ref, "local" end
  return nil
end

-- ctx: { label (for errors: 'function "x" input'), registry (name -> schema), components
--        (name -> normalized, filled here), locals (name -> component name of this schema's own
--        $defs), prefix (for hoisted local $defs) }
local normalize

local function fail(ctx, where, msg)
  error(format("%s: schema %s: %s", ctx.label, where, msg), 0)
end

local function resolve_ref(ref, ctx, where)
  local name, kind = ref_name(ref)
  if name == nil then
    fail(ctx, where, format('$ref "%s": only refs to named schemas (pikku.schema) and $defs can be generated;'
      .. " register the target with pikku.schema", ref))
  end
  name = gsub(gsub(name, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end), "~1", "/")
  name = gsub(name, "~0", "~")
  if kind == "local" and ctx.locals and ctx.locals[name] then return M.COMPONENTS .. ctx.locals[name] end
  local target = ctx.registry[name]
  if target == nil then
    fail(ctx, where, format('$ref "%s": unknown schema "%s" (register it with pikku.schema)', ref, name))
  end
  M.register_component(name, target, ctx)
  return M.COMPONENTS .. name
end

--- M.register_component(name, schema, ctx): adds a named schema to ctx.components (once).
function M.register_component(name, target, ctx)
  if ctx.components[name] ~= nil then return end
  ctx.components[name] = true   -- placeholder: recursive schemas refer to themselves
  ctx.components[name] = normalize(target, {
    label = format('schema "%s"', name), registry = ctx.registry, components = ctx.components,
    prefix = name, where_root = name .. "#",
  }, name .. "#")
end

normalize = function(s, ctx, where)
  if type(s) == "boolean" then return s end
  if type(s) ~= "table" then fail(ctx, where, "a schema must be a table") end
  if where == (ctx.where_root or "#") and (s["$defs"] or s.definitions) then
    -- this schema's own $defs become components of their own (OpenAPI resolves "#" at the document)
    ctx.locals = {}
    for _, bag in ipairs { s.definitions or {}, s["$defs"] or {} } do
      for n in pairs(bag) do
        local cname = n
        if ctx.registry[n] ~= nil or (ctx.components[n] ~= nil and ctx.prefix) then
          cname = (ctx.prefix or "Local") .. "_" .. n
        end
        ctx.locals[n] = cname
      end
    end
    for _, bag in ipairs { s.definitions or {}, s["$defs"] or {} } do
      for n, d in pairs(bag) do
        local cname = ctx.locals[n]
        if ctx.components[cname] == nil then
          ctx.components[cname] = true
          ctx.components[cname] = normalize(d, ctx, where .. "/$defs/" .. n)
        end
      end
    end
  end
  local out = {}
  for k, v in pairs(s) do
    if k == "$defs" or k == "definitions" then   -- luacheck: ignore 542 (hoisted above)
    elseif k == "$ref" then
      out[k] = resolve_ref(v, ctx, where)
    elseif k == "nullable" then   -- OpenAPI 3.0: "null" joins the types
      if v == true and s.type ~= nil then
        local types = type(s.type) == "table" and copy_value(s.type) or array { s.type }
        local has = false
        for _, t in ipairs(types) do if t == "null" then has = true end end
        if not has then types[#types + 1] = "null" end
        out.type = types
      end
    elseif k == "type" and s.nullable == true then   -- luacheck: ignore 542 (done with nullable)
    elseif (k == "exclusiveMinimum" or k == "exclusiveMaximum") and type(v) == "boolean" then
      local bound = k == "exclusiveMinimum" and "minimum" or "maximum"
      if v and s[bound] ~= nil then out[k] = s[bound] end
    elseif (k == "minimum" or k == "maximum")
      and s[k == "minimum" and "exclusiveMinimum" or "exclusiveMaximum"] == true then   -- luacheck: ignore 542
    elseif SCHEMA_MAP[k] then
      local m = {}
      for name, sub_s in pairs(v) do m[name] = normalize(sub_s, ctx, where .. "/" .. k .. "/" .. name) end
      out[k] = m
    elseif k == "items" and type(v) == "table" and is_array(v) then   -- draft 2019: a list is prefixItems
      local list = array()
      for i, sub_s in ipairs(v) do list[i] = normalize(sub_s, ctx, where .. "/items/" .. (i - 1)) end
      out.prefixItems = list
    elseif SCHEMA_ONE[k] then
      out[k] = normalize(v, ctx, where .. "/" .. k)
    elseif SCHEMA_LIST[k] then
      local list = array()
      for i, sub_s in ipairs(v) do list[i] = normalize(sub_s, ctx, where .. "/" .. k .. "/" .. (i - 1)) end
      out[k] = list
    elseif VALUE_LIST[k] or (k == "type" and type(v) == "table") then
      local list = array()
      for i, x in ipairs(v) do list[i] = copy_value(x) end
      out[k] = list
    elseif VALUES[k] then
      out[k] = copy_value(v)
    elseif type(k) == "string" then
      out[k] = copy_value(v)
    end
  end
  return out
end

--- M.normalize(schema, ctx) -> a copy for OpenAPI 3.1: $refs to "#/components/schemas/<Name>" (the
--- named schemas they reach added to ctx.components), OpenAPI 3.0's nullable and boolean exclusive
--- bounds in 2020-12 form, local $defs hoisted to components, arrays marked.
--- ctx = { label, registry, components, prefix }. Raises '<label>: schema <pointer>: <problem>'.
function M.normalize(s, ctx)
  return normalize(s, ctx, "#")
end

--- M.component_name(ref) -> "Todo" for "#/components/schemas/Todo", else nil.
function M.component_name(ref)
  return type(ref) == "string" and match(ref, "^#/components/schemas/(.+)$") or nil
end

return M
