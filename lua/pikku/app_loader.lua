-- Loading an app: runs app.lua, compiles its functions and wirings into routes, adds them to the core.
local M = {}

local core = require "pikku.core"
local pikku = require "pikku"
local pipeline = require "pikku.pipeline"
local cors = require "pikku.cors"
local builtin_services = require "pikku.builtin_services"
local static = require "pikku.static"
local serve_c = require "pikku.serve_c"

local type, tostring, pairs, ipairs, next, error, pcall, xpcall, loadfile, require =
  type, tostring, pairs, ipairs, next, error, pcall, xpcall, loadfile, require
local find, sub, gsub, format, match, concat =
  string.find, string.sub, string.gsub, string.format, string.match, table.concat
local getinfo = debug.getinfo

-- A syntax error in a module app.lua requires reads "error loading module 'x' from file
-- './x.lua':\n\t./x.lua:13: '<eof>' expected" (load_error puts "app.lua:3: " in front): the
-- place that matters comes first then,
-- "x.lua:13: '<eof>' expected (module 'x', required at app.lua:3)", as deep as modules nest.
local function innermost(msg)
  for _ = 1, 20 do
    local outer, name, inner = match(msg, "^([^\n]-:%d+): error loading module '([^']*)' from file '[^\n]*':%s*(.*)$")
    if not outer or not find(inner, "^[^\n]-:%d+: ") then break end
    msg = format("%s (module '%s', required at %s)", inner, name, outer)
  end
  return msg
end
M.innermost = innermost

-- Turns any error raised while loading into a "file:line: message" string.
local function load_error(e)
  local msg = tostring(e)
  if find(msg, "^[^\n]-:%d+: ") then return innermost(msg) end
  for level = 2, 30 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 and sub(info.source or "", 1, 1) == "@" then
      return innermost(sub(info.source, 2) .. ":" .. info.currentline .. ": " .. msg)
    end
  end
  return "?:0: " .. msg
end

-- "/a/:id/*rest" -> shape "/a/:/*", names { "id", "rest" } (or an error message)
local function parse_route(route)
  local shape, names, set = {}, {}, {}
  local segs = {}
  local rest = sub(route, 2)
  if #rest > 0 and sub(rest, -1) == "/" then rest = sub(rest, 1, -2) end   -- "/a/b/" is "/a/b" (as matched)
  while true do
    local slash = find(rest, "/", 1, true)
    if slash then
      segs[#segs + 1] = sub(rest, 1, slash - 1)
      rest = sub(rest, slash + 1)
    else
      segs[#segs + 1] = rest
      break
    end
  end
  for i, seg in ipairs(segs) do
    local c = sub(seg, 1, 1)
    if c == ":" or c == "*" then
      local name = sub(seg, 2)
      if not find(name, "^[%a_][%w_]*$") then
        return nil, format('bad parameter name "%s" in route "%s" (use letters, digits and _)', seg, route)
      end
      if c == "*" and i ~= #segs then
        return nil, format('wildcard "%s" must be the last segment of route "%s"', seg, route)
      end
      if set[name] then
        return nil, format('parameter "%s" appears twice in route "%s"', name, route)
      end
      set[name] = true
      names[#names + 1] = name
      shape[i] = c
    else
      if find(seg, "[:*]") then
        return nil, format('"%s" in route "%s": ":" and "*" may only start a segment', seg, route)
      end
      shape[i] = seg
    end
  end
  return "/" .. concat(shape, "/"), names, set
end

-- Whether a channel handler's input schema (its compiled validator) declares a top-level "id"
-- (through $ref and allOf): then the message's "id" is passed to the function too (it is still
-- the correlation id of the reply).
local function channel_input_has_id(vin)
  return vin ~= nil and vin:top_keys(false).id ~= nil
end

-- Runs APP_DIR/app.lua (its pikku.func / pikku.wire_* calls fill pikku._registry).
local function run_app(file)
  local chunk, err = loadfile(file)
  if not chunk then
    if not find(err, "^[^\n]-:%d+: ") then err = file .. ":0: " .. err end
    error(err, 0)
  end
  local ok, e = xpcall(chunk, load_error)
  if not ok then error(e, 0) end
end

-- The services table: pikku's own, handed to ctx.set_services at once (the singleton factory
-- may read runtime.services()), then the app's singletons added to it.
local function make_services(reg, file, ctx)
  local services = builtin_services.new(reg, ctx.sleep, ctx.call_id)
  ctx.set_services(services)
  local factory = reg.singleton_factory
  if factory then
    local extra = factory
    if type(factory) == "function" then
      local ok
      ok, extra = xpcall(factory, load_error, services.config)
      if not ok then error(extra, 0) end
    end
    if type(extra) ~= "table" then
      error(file .. ":0: pikku.singleton_services: the factory must return a table, got " .. type(extra), 0)
    end
    for k, v in pairs(extra) do services[k] = v end
  end
  return services
end

-- compile(def, label) -> the function's compiled schemas (once per function; a bad schema fails
-- the load).
local function function_compiler(reg, file)
  local compiled = {}
  return function(def, label)
    local fc = compiled[def]
    if fc == nil then
      local place = reg.func_place[def] or file .. ":0"
      fc = pipeline.compile_function(def, label, place)
      compiled[def] = fc
    end
    return fc
  end
end

-- Every function: its schemas, its direct-call plan; returns name -> HTTP plan of the exposed ones.
local function compile_functions(reg, compile)
  local rpc_plans = {}
  local names = {}
  for _, def in ipairs(reg.funcs) do
    local place = reg.func_place[def]
    if def.name then
      if names[def.name] then
        error(format('%s: function name "%s" is used twice (%s and %s)', place, def.name, names[def.name], place), 0)
      end
      names[def.name] = place
    end
    local fc = compile(def, def.name and ('function "' .. def.name .. '"') or ("function at " .. place))
    pipeline.add_call_plan(def, pipeline.make_plan(fc, { auth = def.auth ~= false, mws = def.middleware }))
    if def.expose then
      rpc_plans[def.name] = pipeline.make_plan(fc, {
        auth = def.auth ~= false, http = true,
        mws = pipeline.flatten_middleware(reg.middleware, nil, nil, def.middleware),
      })
    end
  end
  return rpc_plans
end

-- The HTTP wirings: routes[i] for wiring i (a plan plus the route's kind, names, ...); seen maps
-- "METHOD shape" to the wiring that took it, list gets every route (for the CORS preflights).
local function wire_http(reg, compile, routes, seen, list)
  for i, w in ipairs(reg.wirings) do
    local shape, pnames, set = parse_route(w.route)
    if not shape then error(w.place .. ": " .. pnames, 0) end
    local key = w.method .. " " .. shape
    local first = seen[key]
    if first then
      error(format('%s: route "%s %s" is wired twice (%s and %s)',
        w.place, w.method, first.route, first.place, w.place), 0)
    end
    seen[key] = w
    local def, group = w.def, w.group
    local label = def.name and ('function "' .. def.name .. '"') or (w.method .. " " .. w.route)
    local fc = compile(def, label)
    -- auth: the most specific explicit setting wins: wiring, then group, then the function
    local auth = w.auth
    if auth == nil and group then auth = group.auth end
    if auth == nil then auth = def.auth end
    if auth == nil then auth = true end
    if w.sse and w.method ~= "GET" then
      error(format('%s: route "%s %s": sse = true needs method = "get" (an event stream is a GET)',
        w.place, w.method, w.route), 0)
    end
    local r = pipeline.make_plan(fc, {
      auth = auth, http = not w.sse,
      mws = pipeline.flatten_middleware(reg.middleware, group and group.middleware, w.middleware, def.middleware),
    })
    r.kind, r.raw_body, r.method, r.route, r.place = w.sse and "sse" or "http", w.raw_body, w.method, w.route, w.place
    r.auth, r.max_body = auth, w.max_body
    r.names, r.name_set, r.n, r.shape = #pnames > 0 and pnames or nil, set, #pnames, shape
    routes[i] = r
    list[#list + 1] = r
  end
end

-- The HTTP route a channel at `shape` shares its path with: the plain GET route (not an event
-- stream) wired there, or nil. The core sends that route's GETs with the WebSocket upgrade to the
-- channel and the others to the route ("http+channel" in register_routes).
local function shared_get_route(first, routes, shape)
  if first.def == nil or first.sse then return nil end   -- a channel or an event stream
  for i = 1, #routes do
    local r = routes[i]
    if r.kind == "http" and r.method == "GET" and r.shape == shape then return i end
  end
  return nil
end

-- The channels: a GET route each, upgraded by the core; their handlers get plans like routes do.
-- Returns name -> compiled channel (for pikku.channel).
local function wire_channels(reg, compile, routes, seen)
  local compiled_channels = {}
  for _, c in ipairs(reg.channels) do
    local shape, pnames, set = parse_route(c.route)
    if not shape then error(c.place .. ": " .. pnames, 0) end
    local key = "GET " .. shape
    local first = seen[key]
    local shared = first and shared_get_route(first, routes, shape)
    if first and not shared then
      error(format('%s: route "GET %s" of channel "%s" is already wired (%s and %s); a channel route'
        .. " shares its path only with a plain HTTP GET (not an event stream or another channel)",
        c.place, first.route, c.name, first.place, c.place), 0)
    end
    seen[key] = c
    local ch = { name = c.name, auth = c.auth, keys = {} }
    local cl = 'channel "' .. c.name .. '"'
    local function plan_for(def, label, auth, entry_mws, lifecycle)
      local fc = compile(def, def.name and ('function "' .. def.name .. '"') or label)
      if lifecycle then
        return pipeline.make_plan(fc, { auth = false, mws = def.middleware })
      end
      return pipeline.make_plan(fc, {
        auth = auth, mws = pipeline.flatten_middleware(reg.middleware, c.middleware, entry_mws, def.middleware),
      })
    end
    local function default_auth(def)
      if c.auth ~= nil then return c.auth end
      if def.auth ~= nil then return def.auth end
      return true
    end
    if c.on_connect then ch.connect = plan_for(c.on_connect, cl .. " on_connect", false, nil, true) end
    if c.on_disconnect then ch.disconnect = plan_for(c.on_disconnect, cl .. " on_disconnect", false, nil, true) end
    if c.on_message then
      ch.message = plan_for(c.on_message, cl .. " on_message", default_auth(c.on_message))
    end
    if c.on_binary then
      ch.binary = plan_for(c.on_binary, cl .. " on_binary", default_auth(c.on_binary))
    end
    for _, k in ipairs(c.keys) do
      local handlers = {}
      for value, entry in pairs(k.handlers) do
        local def = entry.def
        local auth = entry.auth
        if auth == nil then auth = default_auth(def) end
        local plan = plan_for(def, format('%s %s "%s"', cl, k.key, value), auth, entry.middleware)
        plan.keep_id = channel_input_has_id(plan.vin)
        handlers[value] = plan
      end
      ch.keys[#ch.keys + 1] = { key = k.key, handlers = handlers }
    end
    compiled_channels[c.name] = ch
    local entry = {
      kind = "channel", channel = ch, method = "GET", route = c.route, shape = shape, place = c.place,
      protocols = c.protocols, shares = shared,
      names = #pnames > 0 and pnames or nil, name_set = set, n = #pnames,
    }
    routes[#routes + 1] = entry
    if shared then routes[shared].channel_route = entry end
  end
  return compiled_channels
end

-- The schedules and queue workers: a plan each (no session, no auth: the master calls them), and for
-- a queue the validator its jobs must pass when they are added: its `input`, else its function's.
-- Returns name -> schedule, name -> queue (pikku.jobs runs them, pikku.queue_service adds to them).
local function wire_jobs(reg, compile)
  local schedules, queues = {}, {}
  for _, s in ipairs(reg.schedules) do
    local def = s.def
    local fc = compile(def, def.name and ('function "' .. def.name .. '"') or ('schedule "' .. s.name .. '"'))
    local sc = {}
    for k, v in pairs(s) do sc[k] = v end
    sc.plan = pipeline.make_plan(fc, { auth = false, mws = def.middleware })
    schedules[s.name] = sc
  end
  for _, q in ipairs(reg.queues) do
    local def = q.def
    local fc = compile(def, def.name and ('function "' .. def.name .. '"') or ('queue "' .. q.name .. '"'))
    local qc = {}
    for k, v in pairs(q) do qc[k] = v end
    qc.plan = pipeline.make_plan(fc, { auth = false, mws = def.middleware })
    if q.input ~= nil then
      local ok, v = pcall(require("pikku.schema").compile, q.input, 'queue "' .. q.name .. '" input')
      if not ok then
        local msg = tostring(v)
        if not find(msg, "^[^\n]-:%d+: ") then msg = q.place .. ": " .. msg end
        error(msg, 0)
      end
      qc.vadd = v
    else
      qc.vadd = fc.vin
    end
    queues[q.name] = qc
  end
  for _, q in ipairs(reg.queues) do   -- a dead-letter queue has no worker; jobs can still be added there
    local dl = q.dead_letter
    if dl and not queues[dl] then queues[dl] = { name = dl, dead_letter_of = q.name } end
  end
  return schedules, queues
end

-- The static routes (pikku.wire_static): a GET route each, answered by the core from a directory.
local function wire_statics(reg, routes, seen, list)
  for _, st in ipairs(reg.statics) do
    local shape, err = parse_route(st.route)
    if not shape then error(st.place .. ": " .. err, 0) end
    local key = "GET " .. shape
    local first = seen[key]
    if first then
      error(format('%s: route "GET %s" is wired twice (%s and %s)', st.place, st.route, first.place, st.place), 0)
    end
    seen[key] = st
    local r = { kind = "static", method = "GET", route = st.route, shape = shape, place = st.place, static = st }
    routes[#routes + 1] = r
    list[#list + 1] = r
  end
end

-- POST /rpc/:name, when some function is exposed and the app has no route of that shape.
local function add_rpc_route(rpc_plans, routes, seen, list)
  if next(rpc_plans) then
    if seen["POST /rpc/:"] then
      core.log("warn", format('POST /rpc/:name is not added for the exposed functions: the app wires "%s" itself (%s)',
        seen["POST /rpc/:"].route, seen["POST /rpc/:"].place))
    else
      local r = { kind = "rpc", method = "POST", route = "/rpc/:name", shape = "/rpc/:", place = "pikku (RPC)",
                  n = 1, names = { "name" }, name_set = { name = true } }
      routes[#routes + 1] = r
      list[#list + 1] = r
    end
  end
end

-- The methods wired at each path shape, for preflight answers and the OPTIONS routes.
local function add_preflight_routes(routes, list, first_index)
  local shapes, order = {}, {}
  for _, r in ipairs(list) do
    local s = shapes[r.shape]
    if s == nil then
      s = { route = r.route, methods = {} }
      shapes[r.shape] = s
      order[#order + 1] = r.shape
    end
    s.methods[r.method] = true
  end
  local added = {}
  local index = first_index
  for _, shape in ipairs(order) do
    local s = shapes[shape]
    if not s.methods.OPTIONS then
      routes[index] = { kind = "preflight", route = s.route, method = "OPTIONS", place = "pikku.cors" }
      added[#added + 1] = index
      index = index + 1
    end
  end
  return added
end

-- core.add_route for every route; its index in routes is the index dispatch receives. What the
-- core keeps of a route beyond that (its body limit, its label for metrics, a static directory)
-- goes to pikku.serve_c.
local function register_routes(routes, app_dir)
  for i, r in ipairs(routes) do
    local added, aerr
    if r.shares then           -- a channel at a GET route's path: that route's entry takes both
      added = true
    elseif r.channel_route then
      added, aerr = core.add_route(r.method, r.route, i, "http+channel", r.channel_route.protocols)
    elseif r.kind == "channel" or r.kind == "sse" or r.kind == "preflight" or r.kind == "static" then
      added, aerr = core.add_route(r.method, r.route, i, r.kind, r.protocols)
    else
      added, aerr = core.add_route(r.method, r.route, i)
    end
    if not added then
      error(format('%s: route "%s %s" rejected: %s', r.place, r.method, r.route, tostring(aerr)), 0)
    end
    serve_c.route(i, { max_body = r.max_body, raw_body = r.raw_body, label = r.method .. " " .. r.route })
    if r.kind == "static" then static.wire(serve_c, i, r.static, app_dir) end
  end
end

--- load(app_dir, ctx) -> the loaded app { routes, rpc_plans, services, cors, key_param, challenge,
--- channels }; raises "file:line: message" on failure. ctx gives sleep (runtime.sleep),
--- call_id() (the running call's id, for the logger) and set_services(services).
---   routes: index -> a plan (see pikku.pipeline) plus the route's kind, names, name_set, n,
---     method, route, place; kind is "http", "sse", "channel", "rpc" (POST /rpc/:name) or
---     "preflight" (CORS OPTIONS)
---   rpc_plans: name -> HTTP plan of an exposed function; cors: compiled pikku.cors settings or
---   nil; key_param: pikku.auth's api_key.query (a credential, never part of data) or nil;
---   challenge: the WWW-Authenticate line every 401 carries when pikku.auth has jwt, or nil;
---   channels: name -> compiled channel (for pikku.channel); schedules, queues: name -> compiled
---   schedule / queue (pikku.jobs, pikku.queue_service).
function M.load(app_dir, ctx)
  pikku._reset()
  local ok_schema, schema = pcall(require, "pikku.schema")
  if ok_schema and type(schema) == "table" and schema.reset then schema.reset() end
  app_dir = gsub(tostring(app_dir), "/+$", "")
  if app_dir == "" then app_dir = "." end
  local file = app_dir .. "/app.lua"
  run_app(file)
  require("pikku.api_docs").wire(pikku._registry, core)   -- GET /openapi.json and the API page, when on

  local reg = pikku._registry
  local app = { routes = {}, limits = reg.limits }
  app.key_param = reg.auth and reg.auth.api_key and reg.auth.api_key.query or nil
  if reg.auth and reg.auth.jwt then app.challenge = 'WWW-Authenticate: Bearer realm="pikku"\r\n' end
  local services = make_services(reg, file, ctx)
  app.services = services

  local ok, e = xpcall(pipeline.setup, load_error, {
    services = services, auth = reg.auth, session_factory = reg.session_factory, cors = reg.cors,
    validate_output = core.dev or core.test, rpc_max_depth = reg.rpc_max_depth,
  })
  if not ok then error(e, 0) end
  if reg.cors then
    -- the core keeps the settings and makes every CORS line from them (cors.c); preflights
    -- (OPTIONS + Origin + Access-Control-Request-Method) it answers without entering Lua, and the
    -- Lua preflight route stays for a plain OPTIONS and for in-process requests
    cors.configure(reg.cors)
    app.cors = true
  end

  local compile = function_compiler(reg, file)
  app.rpc_plans = compile_functions(reg, compile)
  local routes, seen, list = app.routes, {}, {}
  wire_http(reg, compile, routes, seen, list)
  app.channels = wire_channels(reg, compile, routes, seen)
  app.schedules, app.queues = wire_jobs(reg, compile)
  wire_statics(reg, routes, seen, list)
  add_rpc_route(app.rpc_plans, routes, seen, list)
  if app.cors then add_preflight_routes(routes, list, #routes + 1) end
  register_routes(routes, app_dir)
  return app
end

return M
