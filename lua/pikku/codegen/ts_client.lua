-- client.ts: a typed TypeScript client (HTTP routes, RPC, channels) from a described app and its OpenAPI.
local M = {}

local errors = require "pikku.errors"
local names = require "pikku.codegen.names"
local json_out = require "pikku.codegen.json_out"
local schema_out = require "pikku.codegen.schema_out"
local ts_types = require "pikku.codegen.ts_types"
local openapi = require "pikku.codegen.openapi"
local runtime = require "pikku.codegen.ts_runtime"

local ipairs, type, tostring, next = ipairs, type, tostring, next
local format, gsub = string.format, string.gsub
local concat = table.concat

local quote = json_out.quote
local sorted_keys = names.sorted_keys

-- Members of the base classes: a generated method of the same name gets another one.
local CLIENT_MEMBERS = { baseUrl = true, setToken = true, cookieHeader = true, call = true, send = true,
                         rpc = true, rpcCall = true, wsUrl = true, options = true, token = true }
local CHANNEL_MEMBERS = { connected = true, connect = true, open = true, request = true, send = true,
                          subscribe = true, onOpen = true, onMessage = true, onError = true, close = true,
                          routingKey = true, receive = true }

-- A JSDoc block from lines (nil entries skipped: give lines.n), indented by pad.
local function jsdoc(lines, pad)
  local kept = {}
  for i = 1, lines.n or #lines do
    local l = lines[i]
    if l and l ~= "" then kept[#kept + 1] = (gsub(gsub(tostring(l), "%*/", "* /"), "\n", "\n" .. pad .. " * ")) end
  end
  if #kept == 0 then return "" end
  return pad .. "/**\n" .. pad .. " * " .. concat(kept, "\n" .. pad .. " * ") .. "\n" .. pad .. " */\n"
end

local function section(title)
  return "// ---- " .. title .. " " .. string.rep("-", 90 - #title) .. "\n"
end

local function errors_line(op)
  local parts = {}
  for _, status in ipairs(sorted_keys(op.errors)) do
    parts[#parts + 1] = status .. " " .. concat(op.errors[status], ", ")
  end
  return #parts > 0 and ("@throws {PikkuError} " .. concat(parts, "; ")) or nil
end

-- The type expression of a function's input or output (normalized as the OpenAPI has it).
local function schema_type(op, which, model)
  local s = op[which]
  if s == nil then return nil end
  local label = format("%s %s", op.label, which)
  local n = schema_out.normalize(s, { label = label, registry = model.schemas, components = {}, prefix = op.id })
  return ts_types.expr(n, label)
end

local function input_required(op, model)
  if #op.params > 0 then return true end
  if op.input == nil then return false end
  local _, req = openapi.flat_properties(op.input, model.schemas)
  return next(req) ~= nil
end

-- export type XInput / XOutput for one operation; returns the input and output type names.
local function op_types(out, op, model, base)
  local input = schema_type(op, "input", model) or "Record<string, unknown>"
  if #op.params > 0 then
    local props = op.input and openapi.flat_properties(op.input, model.schemas) or {}
    local missing = {}
    for _, p in ipairs(op.params) do
      if props[p] == nil then missing[#missing + 1] = ts_types.key(p) .. ": string | number" end
    end
    if #missing > 0 then
      input = input == "Record<string, unknown>" and ("{ " .. concat(missing, "; ") .. " }")
        or ("(" .. input .. ") & { " .. concat(missing, "; ") .. " }")
    end
  end
  local output = schema_type(op, "output", model) or "unknown"
  out[#out + 1] = format("export type %sInput = %s;", base, input)
  out[#out + 1] = format("export type %sOutput = %s;", base, output)
  return base .. "Input", base .. "Output"
end

local function components(out, doc)
  local comps = doc.components.schemas
  for _, name in ipairs(sorted_keys(comps)) do
    if name ~= openapi.ERROR_SCHEMA and name ~= openapi.VALIDATION_SCHEMA then
      local s = comps[name]
      out[#out + 1] = jsdoc({ n = 1, type(s) == "table" and s.description or nil }, "")
        .. format("export type %s = %s;", ts_types.type_name(name),
          ts_types.expr(s, format('schema "%s"', name)))
    end
  end
end

local function error_table(out)
  local list = sorted_keys(errors.STATUS)
  local lits, rows = {}, {}
  for i, n in ipairs(list) do
    lits[i] = quote(n)
    rows[i] = format("  %s: %d,", n, errors.STATUS[n])
  end
  out[#out + 1] = "/** The error names of the server (pikku.errors). */"
  out[#out + 1] = "export type ServerErrorName =\n  | " .. concat(lits, "\n  | ") .. ";"
  out[#out + 1] = "/** The HTTP status of each error name (an error frame carries the name only). */"
  out[#out + 1] = "export const ERROR_STATUS = {\n" .. concat(rows, "\n") .. "\n} as const;"
end

local function http_methods(model, out_types, methods, rpc_rows)
  for _, op in ipairs(model.operations) do
    local base = names.pascal(op.id)
    local intro = { n = 6, op.summary or op.title, op.description,
                    format("%s %s%s · %s", op.method, op.route, op.kind == "rpc" and " (RPC)" or "",
                      op.auth and "needs a session" or "public"),
                    #op.permissions > 0 and ("permissions: " .. concat(op.permissions, " or ")) or nil,
                    errors_line(op), op.deprecated and "@deprecated" or nil }
    out_types[#out_types + 1] = jsdoc(intro, "") .. "// " .. op.method .. " " .. op.route
    local input_t, output_t = op_types(out_types, op, model, base)
    if op.kind == "rpc" then
      rpc_rows[#rpc_rows + 1] = format("  %s: { input: %s; output: %s };", ts_types.key(op.rpc_name), input_t, output_t)
    elseif op.kind == "sse" then
      methods[#methods + 1] = jsdoc({ n = 2, op.summary or op.title, format("GET %s is an event stream:"
        .. " open it with EventSource(client.baseUrl + path).", op.route) }, "  ")
        .. format("  %sUrl(): string {\n    return this.baseUrl + %s;\n  }\n", names.camel(op.id), quote(op.path))
    else
      local m = names.camel(op.id)
      if CLIENT_MEMBERS[m] then m = m .. "Op" end
      local params = {}
      for i, p in ipairs(op.params) do params[i] = quote(p) end
      local arg = input_required(op, model) and ("input: " .. input_t) or ("input: " .. input_t .. " = {}")
      methods[#methods + 1] = jsdoc(intro, "  ")
        .. format("  %s(%s): Promise<%s> {\n    return this.call<%s>(%s, %s, [%s], input, %s);\n  }\n",
          m, arg, output_t, output_t, quote(op.method), quote(op.route), concat(params, ", "),
          op.body and "true" or "false")
    end
  end
end

local function channel_classes(model, out_types, classes, factories)
  for _, ch in ipairs(model.channels) do
    local base = names.pascal(ch.name)
    local first = ch.keys[1]
    local rows, meths, keeps = {}, {}, {}
    if first then
      for _, h in ipairs(first.handlers) do
        local hb = base .. names.pascal(h.value)
        out_types[#out_types + 1] = jsdoc({ n = 2, h.summary or h.title, format('channel "%s", %s "%s" · %s',
          ch.name, first.key, h.value, h.auth and "needs a session" or "public") }, "")
          .. format("// channel %s: %s = %s", ch.name, first.key, h.value)
        local it, ot = op_types(out_types, h, model, hb)
        rows[#rows + 1] = format("  %s: { input: %s; output: %s };", ts_types.key(h.value), it, ot)
        if h.keeps_id then keeps[#keeps + 1] = ts_types.key(h.value) .. ": true" end
        local m = names.camel(h.value)
        if CHANNEL_MEMBERS[m] then m = "send" .. names.pascal(h.value) end
        local arg = input_required(h, model) and ("data: " .. it) or ("data: " .. it .. " = {}")
        meths[#meths + 1] = jsdoc({ n = 2, h.summary or h.title,
          format('Sends {"%s": "%s", ...data} and resolves with the reply.', first.key, h.value) }, "  ")
          .. format("  %s(%s): Promise<ChannelReply<%s, %s, %s>> {\n    return this.send(%s, data);\n  }\n",
            m, arg, ot, quote(first.key), quote(h.value), quote(h.value))
      end
    end
    local topic_t = "string"
    if ch.topics then
      local lits = {}
      for i, t in ipairs(ch.topics) do lits[i] = ts_types.literal(t) end
      topic_t = concat(lits, " | ")
    end
    out_types[#out_types + 1] = format('/** The handlers of channel "%s" (%s). */\n'
      .. "export interface %sHandlers {\n%s\n}", ch.name, ch.route, base, concat(rows, "\n"))
    out_types[#out_types + 1] = format("/** The topics channel \"%s\" can subscribe to. */\nexport type %sTopic = %s;",
      ch.name, base, topic_t)
    local key = first and first.key or "action"
    classes[#classes + 1] = jsdoc({ format('Channel "%s" at %s (a WebSocket): one method per %s value,'
      .. " subscribe(topic, cb) for its topics.", ch.name, ch.route, key) }, "")
      .. format("export class %sChannel extends PikkuChannel<%sHandlers, %s, %sTopic> {\n"
      .. "  constructor(url: string, options: ChannelOptions & { WebSocket?: WebSocketClass } = {}) {\n"
      .. "    super(url, %s, { %s }, %s, %s, options);\n  }\n\n%s}",
        base, base, quote(key), base, quote(key), concat(keeps, ", "),
        ch.subscribe and quote(ch.subscribe.value) or "undefined",
        ch.unsubscribe and quote(ch.unsubscribe.value) or "undefined", concat(meths, "\n"))
    factories[#factories + 1] = jsdoc({ format('A connection to channel "%s" (%s); it opens on first use or connect().',
      ch.name, ch.route) }, "  ")
      .. format("  %sChannel(options: ChannelOptions = {}): %sChannel {\n"
      .. "    return new %sChannel(this.wsUrl(%s, options.params, options.query),\n"
      .. "      { WebSocket: this.options.WebSocket, ...options });\n  }\n",
        names.camel(ch.name), base, base, quote(ch.route))
  end
end

--- M.generate(model, doc) -> the text of client.ts; raises (naming the function) for a schema
--- TypeScript cannot express.
function M.generate(model, doc)
  local out = {
    format("// client.ts: the typed client of %s, generated by `pikku codegen` from the app's declarations;"
      .. " do not edit.", model.title),
    "// Needs only fetch and WebSocket. Usage: docs/codegen.md.",
    "/* eslint-disable */",
  }
  out[#out + 1] = runtime
  out[#out + 1] = "// ---- errors of the server ------------------------------------------------------------------\n"
  error_table(out)
  out[#out + 1] = "\n" .. section("named schemas")
  components(out, doc)
  local types, methods, rpc_rows, classes, factories = {}, {}, {}, {}, {}
  http_methods(model, types, methods, rpc_rows)
  channel_classes(model, types, classes, factories)
  out[#out + 1] = "\n" .. section("inputs and outputs")
  for _, t in ipairs(types) do out[#out + 1] = t end
  out[#out + 1] = "\n/** The exposed functions: name -> input and output (POST /rpc/<name>). */"
  out[#out + 1] = "export interface RpcMap {\n" .. concat(rpc_rows, "\n") .. (#rpc_rows > 0 and "\n" or "") .. "}"
  out[#out + 1] = "\n" .. section("channels")
  for _, c in ipairs(classes) do out[#out + 1] = c end
  out[#out + 1] = "\n" .. section("the client")
  out[#out + 1] = jsdoc({ format("The client of %s: one method per HTTP route, rpc(name, data) for the"
    .. " exposed functions, one factory per channel.", model.title),
    "Errors are thrown as PikkuError (name, status, payload, errorId)." }, "")
    .. "export class PikkuClient extends PikkuHttpClient {\n"
    .. concat(methods, "\n")
    .. "\n  /** Calls an exposed function: POST /rpc/<name> with {\"data\": data}. */\n"
    .. "  rpc<N extends keyof RpcMap>(name: N, data: RpcMap[N]['input']): Promise<RpcMap[N]['output']> {\n"
    .. "    return this.rpcCall<RpcMap[N]['output']>(name as string, data);\n  }\n"
    .. (#factories > 0 and ("\n" .. concat(factories, "\n")) or "")
    .. "}"
  return concat(out, "\n") .. "\n"
end

return M
