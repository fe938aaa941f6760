-- Named schemas, the compact Lua shorthand for JSON Schema, and compiling schemas into C validators.
local M = {}

local type, pairs, ipairs, next, tostring, error, require = type, pairs, ipairs, next, tostring, error, require
local sort, concat = table.sort, table.concat
local match, sub, format = string.match, string.sub, string.format
local getinfo = debug.getinfo

local registry = {}   -- name -> JSON Schema (expanded)
local places = {}     -- name -> "file:line" of its registration

local PRIMITIVE = { string = true, number = true, integer = true, boolean = true, null = true,
                    object = true, array = true }

-- Keys that mark a table as real JSON Schema rather than shorthand.
local SCHEMA_KEYS = { "type", "properties", "$ref", "oneOf", "anyOf", "allOf", "enum", "const",
                      "items", "not" }

-- Every key the compiler reads or accepts (known_keys in core/src/schema.c; docs/schemas.md).
local KEYWORDS = require("pikku.schema_c").keywords

-- A shorthand type string ("number", "string?", "Todo[]"): what a shorthand field's value looks like.
local function looks_like_type(v)
  if type(v) ~= "string" then return false end
  local base = match(v, "^(.-)%[?%]?%??$") or v
  return PRIMITIVE[base] or base == "any"
end

local function is_schema(t, where)
  local marked, valued = false, nil
  for _, k in ipairs(SCHEMA_KEYS) do
    if t[k] ~= nil then marked = true break end
  end
  if not marked then
    -- shorthand values are only strings and tables: a number or boolean ({ minLength = 1 }) is a keyword's
    for k, v in pairs(t) do
      local tv = type(v)
      if tv ~= "string" and tv ~= "table" then valued = k break end
    end
    if valued == nil then return false end
  end
  -- { type = "string", amount = "number" } or { title = "string", count = 5 } would silently be JSON
  -- Schema: say so instead. A field with a type's value is shorthand-like when its key is not a
  -- keyword ("x-" extensions aside), or, in a table without the keys above, any key (title, description)
  for k, v in pairs(t) do
    if type(k) == "string" and (not KEYWORDS[k] or not marked) and sub(k, 1, 2) ~= "x-" and looks_like_type(v) then
      if not marked then
        error(format('%s: ambiguous schema: it has a field "%s" = %q as in the shorthand and "%s" = %s,'
          .. " a value only a JSON Schema keyword has (shorthand fields are type strings or tables); write"
          .. ' the object as JSON Schema: { type = "object", properties = { ... } }',
          where, k, v, tostring(valued), tostring(t[valued])), 0)
      end
      error(format('%s: ambiguous schema: it has the JSON Schema keyword(s) of a schema and a field "%s" = %q'
        .. " as in the shorthand; a shorthand object with a field named like a keyword (type, items, enum,"
        .. ' const, not...) must be written as JSON Schema: { type = "object", properties = { ... } }',
        where, k, v), 0)
    end
  end
  return true
end

-- "file:line" of the first caller outside the pikku Lua modules (the app's own code).
local function caller_place()
  for level = 3, 20 do
    local info = getinfo(level, "Sl")
    if not info then break end
    local src = info.source or ""
    if not match(src, "[/\\]pikku[/\\][%w_]+%.lua$") and info.what ~= "C" then
      if sub(src, 1, 1) == "@" then src = sub(src, 2) else src = info.short_src end
      return src .. ":" .. tostring(info.currentline)
    end
  end
  return "?"
end

local expand

-- One shorthand type string: "string", "integer?", "string[]", "Todo", "Todo[]?".
-- Returns the JSON Schema and whether the property is optional.
local function expand_string(s, where)
  local optional = false
  if sub(s, -1) == "?" then optional, s = true, sub(s, 1, -2) end
  local array = false
  if sub(s, -2) == "[]" then array, s = true, sub(s, 1, -3) end
  local schema
  if s == "any" then
    schema = {}
  elseif PRIMITIVE[s] then
    schema = { type = s }
  elseif match(s, "^[%a_][%w_%.%-]*$") then
    schema = { ["$ref"] = "#/$defs/" .. s }
  else
    error(format("%s: %q is not a type (use string, number, integer, boolean, null, any, a registered " ..
                 "schema name, with [] for an array and ? for optional)", where, s), 0)
  end
  if array then schema = { type = "array", items = schema } end
  return schema, optional
end

-- Expands a shorthand value (string or table) at `where` (for errors) into JSON Schema.
expand = function(v, where)
  local tv = type(v)
  if tv == "string" then
    local schema = expand_string(v, where)
    return schema
  end
  if tv ~= "table" then
    error(format("%s: a schema must be a table or a type string, not %s", where, tv), 0)
  end
  if is_schema(v, where) then return v end
  -- { "string" } or { { title = "string" } }: an array of that item
  if v[1] ~= nil and next(v, 1) == nil and #v == 1 then
    return { type = "array", items = expand(v[1], where .. "[1]") }
  end
  local properties, required = {}, {}
  for key, value in pairs(v) do
    if type(key) ~= "string" then
      error(format("%s: shorthand object keys must be strings (got %s)", where, tostring(key)), 0)
    end
    local name, optional = key, false
    if sub(key, -1) == "?" then name, optional = sub(key, 1, -2), true end
    local schema, opt
    if type(value) == "string" then
      schema, opt = expand_string(value, where .. "." .. name)
    else
      schema = expand(value, where .. "." .. name)
    end
    properties[name] = schema
    if not (optional or opt) then required[#required + 1] = name end
  end
  sort(required)
  local out = { type = "object", properties = properties, additionalProperties = false }
  if #required > 0 then out.required = required end
  return out
end

--- Turns the compact shorthand into JSON Schema (a table that is already JSON Schema is returned
--- as it is). See docs/schemas.md.
function M.expand(shorthand, where)
  return expand(shorthand, where or "schema")
end

--- pikku.schema(name, schema): registers a named schema for $ref ("Todo", "#/$defs/Todo", ...).
function M.register(name, schema)
  local place = caller_place()
  if type(name) ~= "string" or name == "" then
    error(place .. ": pikku.schema(name, schema): name must be a non-empty string", 0)
  end
  if registry[name] ~= nil then
    error(format("%s: schema %q is registered twice (%s and %s)", place, name, places[name], place), 0)
  end
  registry[name] = expand(schema, place .. ": schema " .. name)
  places[name] = place
  return registry[name]
end

--- The table of name -> JSON Schema registered so far.
function M.registry()
  return registry
end

--- Forgets every registered schema (called before each app load).
function M.reset()
  registry = {}
  places = {}
end

--- Compiles a schema (shorthand or JSON Schema) into a validator with :validate(value, fill_defaults)
--- -> true | false, errors and :coerce_query(tbl). A bad schema raises
--- "<where>: schema <pointer>: <keyword>: <problem>".
function M.compile(schema, where)
  where = where or "schema"
  return require("pikku.schema_c").compile(expand(schema, where), where, registry)
end

-- Formats validation errors as one line ("/age: must be <= 150; /name: is required").
function M.format_errors(errors)
  local parts = {}
  for i, e in ipairs(errors or {}) do
    parts[i] = (e.path == "" and "(root)" or e.path) .. ": " .. e.message
  end
  return concat(parts, "; ")
end

return M
