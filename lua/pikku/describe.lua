-- The loaded app as data for tools (codegen, routes, the API page): operations, channels, schemas, auth.
local M = {}

local pikku = require "pikku"
local schema = require "pikku.schema"
local errors = require "pikku.errors"

local type, pairs, ipairs, tostring, error, next = type, pairs, ipairs, tostring, error, next
local format, gsub, sub, upper, lower, match = string.format, string.gsub, string.sub, string.upper,
  string.lower, string.match
local sort, concat = table.sort, table.concat

local BODY_METHODS = { POST = true, PUT = true, PATCH = true }
local STATE_CHANGING = { POST = true, PUT = true, PATCH = true, DELETE = true }

-- Wirings the host adds itself (the API page): registered with this flag, never described.
M.INTERNAL = "_pikku_internal"

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  return keys
end

--- M.route_path("/todos/:id/*rest") -> "/todos/{id}/{rest}", { "id", "rest" }
function M.route_path(route)
  local params = {}
  local path = gsub(route, "([:*])([%a_][%w_]*)", function(_, name)
    params[#params + 1] = name
    return "{" .. name .. "}"
  end)
  if #path > 1 and sub(path, -1) == "/" then path = sub(path, 1, -2) end
  return path, params
end

-- "get", "/todos/:id/complete" -> "getTodosByIdComplete" (an operationId for unnamed functions)
local function derived_id(method, route)
  local parts = { lower(method) }
  for seg in route:gmatch("[^/]+") do
    local c, name = match(seg, "^([:*])(.+)$")
    if c then seg = "By" .. upper(sub(name, 1, 1)) .. sub(name, 2) end
    seg = gsub(seg, "[^%w]+(%w?)", function(ch) return upper(ch) end)
    parts[#parts + 1] = upper(sub(seg, 1, 1)) .. sub(seg, 2)
  end
  return concat(parts)
end

local function permission_names(p)
  if p == nil then return {} end
  if type(p) == "function" then return { "(function)" } end
  return sorted_keys(p)
end

local function add_list(dst, seen, list)
  if type(list) ~= "table" then return end
  for _, v in ipairs(list) do
    if not seen[v] then seen[v] = true dst[#dst + 1] = v end
  end
end

-- The JSON Schema of a function's input or output (shorthand expanded), or nil.
local function expand(def, which, label)
  local s = def[which]
  if s == nil then return nil end
  return schema.expand(s, label .. " " .. which)
end

-- The label tools use in messages about a function: function "name" (or where it was declared).
local function label_of(def, reg, fallback)
  if def.name then return format('function "%s"', def.name) end
  return format("function at %s", reg.func_place[def] or fallback or "?")
end
M.label_of = label_of

-- The errors an operation can answer with, status -> sorted names.
local function op_errors(op, reg)
  local by = {}
  local function add(status, name)
    by[status] = by[status] or {}
    by[status][name] = true
  end
  if op.body then
    add(400, "BadRequest")
    add(415, "UnsupportedMediaType")
  end
  if op.auth then
    add(401, "MissingSession")
    add(401, "InvalidSession")
  end
  if #op.permissions > 0 then add(403, "Forbidden") end
  if op.csrf then add(403, "Forbidden") end
  if #op.params > 0 or op.kind == "rpc" then add(404, "NotFound") end
  if op.input or #op.params > 0 then add(422, "UnprocessableContent") end
  if op.middleware then add(429, "TooManyRequests") end
  add(500, "InternalServerError")
  local declared = op.def.errors
  if declared ~= nil then
    if type(declared) ~= "table" then
      error(format("%s (%s): errors must be a list of error names such as { \"NotFound\" }",
        label_of(op.def, reg), reg.func_place[op.def] or "?"), 0)
    end
    for _, name in ipairs(declared) do
      local status = type(name) == "string" and errors.STATUS[name]
      if not status then
        error(format('%s (%s): errors: unknown error name %s (a name of pikku.errors, e.g. "NotFound")',
          label_of(op.def, reg), reg.func_place[op.def] or "?", tostring(name)), 0)
      end
      add(status, name)
    end
  end
  local out = {}
  for status, names in pairs(by) do out[status] = sorted_keys(names) end
  return out
end

-- Fills the fields every operation shares from its function definition.
local function fill_from_def(op, def, reg, extra_tags)
  local label = label_of(def, reg, op.place)
  op.def, op.label, op.func_name = def, label, def.name
  op.place = op.place or reg.func_place[def]
  op.input, op.output = expand(def, "input", label), expand(def, "output", label)
  op.permissions = permission_names(def.permissions)
  local tags, seen = {}, {}
  add_list(tags, seen, def.tags)
  for _, t in ipairs(extra_tags or {}) do add_list(tags, seen, t) end
  op.tags = tags
  op.title, op.summary, op.description, op.deprecated = def.title, def.summary, def.description, def.deprecated
  op.docs = def.docs
end

local function unique(ids, id)
  if not ids[id] then ids[id] = true return id end
  local n = 2
  while ids[id .. n] do n = n + 1 end
  ids[id .. n] = true
  return id .. n
end

-- The HTTP wirings and the exposed functions (POST /rpc/<name>), in declaration order.
local function operations(reg, ids)
  local ops = {}
  local has_global_mw = #reg.middleware > 0
  local cookie_csrf = reg.auth and reg.auth.cookie and reg.auth.csrf
  local named_http = {}
  for _, w in ipairs(reg.wirings) do
    if not w[M.INTERNAL] then
      local def, group = w.def, w.group
      local auth = w.auth
      if auth == nil and group then auth = group.auth end
      if auth == nil then auth = def.auth end
      if auth == nil then auth = true end
      local path, params = M.route_path(w.route)
      local op = {
        kind = w.sse and "sse" or "http", method = w.method, route = w.route, path = path, params = params,
        place = w.place, auth = auth, raw_body = w.raw_body or false,
        body = BODY_METHODS[w.method] and not w.raw_body and not w.sse or false,
        csrf = cookie_csrf and STATE_CHANGING[w.method] or false,
        middleware = has_global_mw or (group and group.middleware ~= nil) or w.middleware ~= nil
          or def.middleware ~= nil,
      }
      fill_from_def(op, def, reg, { group and group.tags, w.tags })
      if w.title then op.title = w.title end
      if w.summary then op.summary = w.summary end
      if w.description then op.description = w.description end
      if w.deprecated ~= nil then op.deprecated = w.deprecated end
      local id = def.name
      if id and named_http[def] then id = id .. "_" .. derived_id(w.method, w.route) end
      if id then named_http[def] = true end
      op.id = unique(ids, id or derived_id(w.method, w.route))
      op.errors = op_errors(op, reg)
      ops[#ops + 1] = op
    end
  end
  for _, def in ipairs(reg.funcs) do
    if def.expose then
      local op = {
        kind = "rpc", method = "POST", route = "/rpc/" .. def.name, path = "/rpc/" .. def.name, params = {},
        auth = def.auth ~= false, body = true, raw_body = false, rpc_name = def.name,
        csrf = cookie_csrf and true or false,
        middleware = has_global_mw or def.middleware ~= nil,
      }
      fill_from_def(op, def, reg)
      op.id = unique(ids, ids[def.name] and ("rpc_" .. def.name) or def.name)
      op.errors = op_errors(op, reg)
      ops[#ops + 1] = op
    end
  end
  return ops
end

-- Whether a schema declares a top-level property (looking through $ref to named schemas and allOf).
local function top_property(s, name, depth)
  depth = depth or 0
  if type(s) ~= "table" or depth > 20 then return nil end
  if type(s.properties) == "table" and s.properties[name] ~= nil then return s.properties[name] end
  local ref = s["$ref"]
  if type(ref) == "string" then
    local target = schema.registry()[match(ref, "([^/]+)$") or ref]
    local p = target and top_property(target, name, depth + 1)
    if p then return p end
  end
  if type(s.allOf) == "table" then
    for _, sub_s in ipairs(s.allOf) do
      local p = top_property(sub_s, name, depth + 1)
      if p then return p end
    end
  end
  return nil
end
M.top_property = top_property

-- The channels: their routes, routing keys and handlers (sorted by value), lifecycle functions.
local function channels(reg, ids)
  local out = {}
  for _, c in ipairs(reg.channels) do
    local path, params = M.route_path(c.route)
    local ch = { name = c.name, route = c.route, path = path, params = params, auth = c.auth, place = c.place,
                 protocols = c.protocols, keys = {} }
    for _, k in ipairs { "on_connect", "on_disconnect", "on_message", "on_binary" } do
      if c[k] then ch[k] = { def = c[k], label = label_of(c[k], reg) } end
    end
    for _, k in ipairs(c.keys) do
      local handlers = {}
      for _, value in ipairs(sorted_keys(k.handlers)) do
        local entry = k.handlers[value]
        local def = entry.def
        local auth = entry.auth
        if auth == nil then auth = c.auth end
        if auth == nil then auth = def.auth end
        if auth == nil then auth = true end
        local h = { kind = "channel", value = value, key = k.key, auth = auth, channel = c.name,
                    place = reg.func_place[def], params = {} }
        fill_from_def(h, def, reg)
        h.keeps_id = h.input ~= nil and top_property(h.input, "id") ~= nil
        h.id = unique(ids, format("%s_%s_%s", c.name, k.key, value))
        handlers[#handlers + 1] = h
      end
      ch.keys[#ch.keys + 1] = { key = k.key, handlers = handlers }
    end
    -- subscribe(topic, cb) in the clients sends the handler named "subscribe" (and "unsubscribe")
    -- of the first routing key when its input takes a topic
    local first = ch.keys[1]
    if first then
      for _, h in ipairs(first.handlers) do
        if (h.value == "subscribe" or h.value == "unsubscribe") and h.input and top_property(h.input, "topic") then
          ch[h.value] = h
        end
      end
      local topic = ch.subscribe and top_property(ch.subscribe.input, "topic")
      if type(topic) == "table" and type(topic.enum) == "table" then ch.topics = topic.enum end
    end
    out[#out + 1] = ch
  end
  return out
end

-- Wirings other transports register (schedulers, queue workers, ... as other registry lists):
-- each entry with a name and a pikku.func, listed by `pikku routes`.
local KNOWN = { wirings = true, channels = true, funcs = true, func_place = true, middleware = true }
local function other_wirings(reg)
  local out = {}
  for _, list_name in ipairs(sorted_keys(reg)) do
    local list = reg[list_name]
    if not KNOWN[list_name] and type(list) == "table" and type(list[1]) == "table" then
      for _, e in ipairs(list) do
        local def = e.def or e.func
        if pikku.is_func(def) then
          out[#out + 1] = {
            transport = gsub(list_name, "s$", ""), name = tostring(e.name or "?"),
            route = e.schedule and (tostring(e.name) .. " (" .. e.schedule .. ")") or e.queue or e.name,
            def = def, label = label_of(def, reg),
            auth = def.auth ~= false, permissions = permission_names(def.permissions),
            input = expand(def, "input", label_of(def, reg)), output = expand(def, "output", label_of(def, reg)),
          }
        end
      end
    end
  end
  return out
end

local function security(reg)
  local a = reg.auth
  if not a then return nil end
  return {
    cookie = a.cookie and { name = a.cookie.name } or nil,
    bearer = a.jwt ~= nil,
    api_key = a.api_key and { header = a.api_key.header, query = a.api_key.query } or nil,
  }
end

--- M.app(app_dir) -> the model of the loaded app:
---   { name, title, version (config.title or config.app, config.version), operations = { op... },
---     channels = { ch... }, others = { ... },
---     schemas = name -> JSON Schema, security = { cookie?, bearer, api_key? } or nil }
--- op: kind ("http", "sse", "rpc"), method, route, path ("/todos/{id}"), params, id (operationId),
---   func_name, label, place, auth, permissions, csrf, middleware, body, raw_body, input, output,
---   errors (status -> names), tags, title, summary, description, deprecated.
--- Raises "<place>: <message>" for what cannot be described (an unknown declared error name).
function M.app(app_dir)
  local reg = pikku._registry
  local ids = {}
  local name = match(gsub(tostring(app_dir or "app"), "/+$", ""), "([^/]+)$") or "app"
  local config = reg.config or {}
  local model = {
    name = name, schemas = schema.registry(), security = security(reg), cors = reg.cors,
    title = type(config.title) == "string" and config.title or type(config.app) == "string" and config.app or name,
    version = type(config.version) == "string" and config.version or "0.0.0",
  }
  model.operations = operations(reg, ids)
  model.channels = channels(reg, ids)
  model.others = other_wirings(reg)
  if next(model.schemas) == nil then model.schemas = {} end
  return model
end

return M
