-- OpenAPI 3.1 of a described app (pikku.describe): every HTTP wiring and exposed RPC, errors, auth, channels.
local M = {}

local json_out = require "pikku.codegen.json_out"
local name_rules = require "pikku.codegen.names"
local schema_out = require "pikku.codegen.schema_out"

local type, pairs, ipairs, tostring, next, select = type, pairs, ipairs, tostring, next, select
local format, lower, match = string.format, string.lower, string.match
local concat, remove = table.concat, table.remove

local array = json_out.array
local sorted_keys = name_rules.sorted_keys
local COMPONENTS = schema_out.COMPONENTS

M.ERROR_SCHEMA = "PikkuError"
M.VALIDATION_SCHEMA = "PikkuValidationError"

local QUERY_METHODS = { GET = true, HEAD = true, DELETE = true }

-- The body every error has (PROTOCOL.md), and the 422 one with its list of problems.
local function error_components(components)
  components[M.ERROR_SCHEMA] = {
    type = "object",
    description = "The body of every error answer: name (the error's name in pikku.errors), message,"
      .. " payload (when the error has one) and errorId (the request's X-Request-Id or a generated id).",
    properties = {
      name = { type = "string" }, message = { type = "string" }, payload = {}, errorId = { type = "string" },
    },
    required = array { "name", "message", "errorId" },
  }
  components[M.VALIDATION_SCHEMA] = {
    type = "object",
    description = "422 UnprocessableContent: every problem found in the data, each at its JSON Pointer.",
    properties = {
      name = { const = "UnprocessableContent" }, message = { type = "string" }, errorId = { type = "string" },
      payload = {
        type = "object",
        properties = {
          errors = {
            type = "array",
            items = {
              type = "object",
              properties = { path = { type = "string" }, message = { type = "string" } },
              required = array { "path", "message" },
            },
          },
        },
        required = array { "errors" },
      },
    },
    required = array { "name", "message", "payload", "errorId" },
  }
end

--- M.flat_properties(schema, registry) -> name -> schema, required set: the top-level properties of
--- an input (through $ref to named schemas and allOf), as the host coerces query values.
function M.flat_properties(s, registry, props, req, depth)
  props, req, depth = props or {}, req or {}, depth or 0
  if type(s) ~= "table" or depth > 20 then return props, req end
  local ref = s["$ref"]
  if type(ref) == "string" then
    local target = registry[match(ref, "([^/]+)$") or ref]
    if target then M.flat_properties(target, registry, props, req, depth + 1) end
  end
  if type(s.properties) == "table" then
    for k, v in pairs(s.properties) do props[k] = v end
  end
  if type(s.required) == "table" then
    for _, k in ipairs(s.required) do req[k] = true end
  end
  if type(s.allOf) == "table" then
    for _, sub_s in ipairs(s.allOf) do M.flat_properties(sub_s, registry, props, req, depth + 1) end
  end
  return props, req
end

local function ctx_for(op, which, model, components)
  return { label = format("%s %s", op.label, which), registry = model.schemas, components = components,
           prefix = op.id }
end

-- The parameters of an operation: its path params, then (GET, HEAD, DELETE) its query from the input.
local function parameters(op, model, components)
  local list = array()
  local props, req = {}, {}
  if op.input then   -- normalized whole first: its own $defs become components its properties refer to
    local norm = schema_out.normalize(op.input, ctx_for(op, "input", model, components))
    props, req = M.flat_properties(norm, components)
  end
  local in_path = {}
  for _, name in ipairs(op.params) do
    in_path[name] = true
    local s = props[name] or { type = "string" }
    list[#list + 1] = { name = name, ["in"] = "path", required = true, schema = s,
                        description = type(s) == "table" and s.description or nil }
  end
  if QUERY_METHODS[op.method] and op.kind ~= "rpc" then
    for _, name in ipairs(sorted_keys(props)) do
      if not in_path[name] then
        local s = props[name]
        local p = { name = name, ["in"] = "query", required = req[name] or false, schema = s,
                    description = type(s) == "table" and s.description or nil }
        if type(s) == "table" and (s.type == "array" or s.type == "object") then
          p.style, p.explode = "form", true
        end
        list[#list + 1] = p
      end
    end
  end
  return list
end

-- The JSON body of an operation: the input less its path params; for RPC, {"data": input}.
local function request_body(op, model, components)
  if op.raw_body then
    return { content = { ["application/octet-stream"] = { schema = { type = "string", format = "binary" } } } }
  end
  if not op.body then return nil end
  local ctx = ctx_for(op, "input", model, components)
  local input = op.input and schema_out.normalize(op.input, ctx) or { type = "object" }
  local req = {}
  if op.input then req = select(2, M.flat_properties(op.input, model.schemas)) end
  for _, p in ipairs(op.params) do req[p] = nil end
  local required = next(req) ~= nil
  local s = input
  if op.kind == "rpc" then
    s = { type = "object", properties = { data = input },
          description = 'Pikku\'s RPC body: {"data": ...} (the object itself is accepted too).' }
    if required then s.required = array { "data" } end
  elseif #op.params > 0 and type(input.properties) == "table" then
    s = {}
    for k, v in pairs(input) do s[k] = v end
    local p = {}
    for k, v in pairs(input.properties) do p[k] = v end
    local r = array()
    for _, k in ipairs(input.required or {}) do r[#r + 1] = k end
    for _, name in ipairs(op.params) do
      p[name] = nil
      for i = #r, 1, -1 do if r[i] == name then remove(r, i) end end
    end
    s.properties = p
    s.required = #r > 0 and r or nil
  end
  return { required = required, content = { ["application/json"] = { schema = s } } }
end

local function responses(op, model, components)
  local out = {}
  local ok = { description = op.summary or op.title or "The function's result" }
  if op.kind == "sse" then
    ok.content = { ["text/event-stream"] = { schema = { type = "string",
      description = "data: <JSON> events; an error is data: {\"type\":\"error\",...} and ends the stream" } } }
  else
    local s = op.output and schema_out.normalize(op.output, ctx_for(op, "output", model, components)) or {}
    ok.content = { ["application/json"] = { schema = s } }
  end
  out["200"] = ok
  for status, names in pairs(op.errors) do
    local list = array()
    for i, n in ipairs(names) do list[i] = n end
    local base = status == 422 and M.VALIDATION_SCHEMA or M.ERROR_SCHEMA
    local r = {
      description = concat(names, ", "),
      content = { ["application/json"] = { schema = {
        allOf = array { { ["$ref"] = COMPONENTS .. base },
                        { type = "object", properties = { name = { enum = list } } } },
      } } },
    }
    if status == 401 and model.security and model.security.bearer then
      r.headers = { ["WWW-Authenticate"] = { description = 'Bearer realm="pikku"', schema = { type = "string" } } }
    end
    out[tostring(status)] = r
  end
  return out
end

local function security_schemes(sec)
  if not sec then return nil, nil end
  local schemes, names = {}, {}
  if sec.cookie then
    schemes.cookieAuth = { type = "apiKey", ["in"] = "cookie", name = sec.cookie.name,
                           description = "The signed session cookie (set by a function that calls wire.set_session)." }
  end
  if sec.bearer then
    schemes.bearerAuth = { type = "http", scheme = "bearer", bearerFormat = "JWT",
                           description = "Authorization: Bearer <JWT> (HS256)." }
  end
  if sec.api_key and sec.api_key.header then
    schemes.apiKeyHeader = { type = "apiKey", ["in"] = "header", name = sec.api_key.header }
  end
  if sec.api_key and sec.api_key.query then
    schemes.apiKeyQuery = { type = "apiKey", ["in"] = "query", name = sec.api_key.query }
  end
  for _, n in ipairs(sorted_keys(schemes)) do names[#names + 1] = n end
  if #names == 0 then return nil, nil end
  return schemes, names
end

local function operation(op, model, components, scheme_names)
  local o = {
    operationId = op.id,
    summary = op.summary or op.title,
    description = op.description,
    deprecated = op.deprecated and true or nil,
    ["x-pikku-function"] = op.func_name,
    ["x-pikku-auth"] = op.auth,
  }
  if #op.tags > 0 then
    o.tags = array()
    for i, t in ipairs(op.tags) do o.tags[i] = t end
  end
  if #op.permissions > 0 then
    o["x-pikku-permissions"] = array()
    for i, p in ipairs(op.permissions) do o["x-pikku-permissions"][i] = p end
  end
  local params = parameters(op, model, components)
  if #params > 0 then o.parameters = params end
  o.requestBody = request_body(op, model, components)
  o.responses = responses(op, model, components)
  if op.auth and scheme_names then
    o.security = array()
    for i, n in ipairs(scheme_names) do o.security[i] = { [n] = array() } end
  end
  return o
end

-- Channels are not HTTP operations: described under x-pikku-channels for the clients and --check.
local function channels(model, components)
  if #model.channels == 0 then return nil end
  local out = {}
  for _, ch in ipairs(model.channels) do
    local c = { route = ch.route, path = ch.path, auth = ch.auth, routingKeys = {} }
    if ch.topics then c.topics = schema_out.copy_value(ch.topics) end
    for _, k in ipairs(ch.keys) do
      local handlers = {}
      for _, h in ipairs(k.handlers) do
        local e = { operationId = h.id, auth = h.auth, summary = h.summary or h.title, keepsId = h.keeps_id,
                    ["x-pikku-function"] = h.func_name }
        if h.input then e.input = schema_out.normalize(h.input, ctx_for(h, "input", model, components)) end
        if h.output then e.output = schema_out.normalize(h.output, ctx_for(h, "output", model, components)) end
        if #h.permissions > 0 then
          e.permissions = array()
          for i, p in ipairs(h.permissions) do e.permissions[i] = p end
        end
        handlers[h.value] = e
      end
      c.routingKeys[k.key] = handlers
    end
    out[ch.name] = c
  end
  return out
end

--- M.build(model) -> the OpenAPI 3.1 document (a table for json_out.encode). Raises, naming the
--- function, for a schema that cannot be described (a $ref to something not registered).
function M.build(model)
  local components = {}
  -- every registered schema is a component, whether a function uses it or not
  for _, name in ipairs(sorted_keys(model.schemas)) do
    schema_out.register_component(name, model.schemas[name], { registry = model.schemas, components = components })
  end
  error_components(components)
  local schemes, scheme_names = security_schemes(model.security)
  local paths, tags = {}, {}
  for _, op in ipairs(model.operations) do
    local item = paths[op.path] or {}
    paths[op.path] = item
    item[lower(op.method)] = operation(op, model, components, scheme_names)
    for _, t in ipairs(op.tags) do tags[t] = true end
  end
  local tag_list = array()
  for i, t in ipairs(sorted_keys(tags)) do tag_list[i] = { name = t } end
  local doc = {
    openapi = "3.1.0",
    info = { title = model.title or model.name, version = model.version,
             description = format("The HTTP API of %s, generated by pikku codegen from the app's declarations"
               .. " (functions, wirings, schemas, auth).", model.title or model.name) },
    paths = paths,
    components = { schemas = components, securitySchemes = schemes },
    tags = #tag_list > 0 and tag_list or nil,
  }
  doc["x-pikku-channels"] = channels(model, components)
  return doc
end

--- M.generate(model) -> the text of openapi.json
function M.generate(model)
  return json_out.encode(M.build(model))
end

return M
