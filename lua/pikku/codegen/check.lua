-- `pikku codegen --check OLD_DIR`: what in a new openapi.json would break a client of the old one.
local M = {}

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local format, match, upper = string.format, string.match, string.upper
local sort, concat = table.sort, table.concat

local METHODS = { "get", "put", "post", "delete", "patch", "head", "options" }
local MAX_DEPTH = 8

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

-- The shape of a schema: types (set), enum (set or nil), props (name -> schema), required (set),
-- items (schema or nil), any (true when it says nothing); $ref, allOf, anyOf, oneOf followed.
local function shape(s, doc, seen)
  seen = seen or {}
  local sh = { types = {}, props = {}, required = {}, any = false }
  if s == true or s == nil then sh.any = true return sh end
  if type(s) ~= "table" then return sh end
  local ref = s["$ref"]
  if type(ref) == "string" then
    local n = match(ref, "^#/components/schemas/(.+)$")
    local target = n and doc.components and doc.components.schemas and doc.components.schemas[n]
    if target and not seen[n] then
      seen[n] = true
      local r = shape(target, doc, seen)
      seen[n] = nil
      for k in pairs(r.types) do sh.types[k] = true end
      for k, v in pairs(r.props) do sh.props[k] = v end
      for k in pairs(r.required) do sh.required[k] = true end
      sh.enum, sh.items, sh.any = r.enum, r.items, r.any
    end
  end
  local t = s.type
  if type(t) == "string" then sh.types[t] = true
  elseif type(t) == "table" then for _, x in ipairs(t) do sh.types[x] = true end end
  if s.const ~= nil then sh.enum = { [tostring(s.const)] = true } end
  if type(s.enum) == "table" then
    sh.enum = {}
    for _, v in ipairs(s.enum) do sh.enum[tostring(v)] = true end
  end
  if type(s.properties) == "table" then
    sh.types.object = sh.types.object or next(sh.types) == nil or nil
    for k, v in pairs(s.properties) do sh.props[k] = v end
  end
  if type(s.required) == "table" then for _, k in ipairs(s.required) do sh.required[k] = true end end
  if s.items ~= nil then sh.items = s.items end
  for _, k in ipairs { "anyOf", "oneOf" } do
    if type(s[k]) == "table" then
      local req
      for _, b in ipairs(s[k]) do
        local r = shape(b, doc, seen)
        if r.any then sh.any = true end
        for x in pairs(r.types) do sh.types[x] = true end
        for p, v in pairs(r.props) do sh.props[p] = sh.props[p] or v end
        if r.types.object or next(r.props) then
          if req == nil then
            req = {}
            for p in pairs(r.required) do req[p] = true end
          else
            for p in pairs(req) do if not r.required[p] then req[p] = nil end end
          end
        end
        if r.items then sh.items = sh.items or r.items end
      end
      for p in pairs(req or {}) do sh.required[p] = true end
    end
  end
  if type(s.allOf) == "table" then
    for _, b in ipairs(s.allOf) do
      local r = shape(b, doc, seen)
      for x in pairs(r.types) do sh.types[x] = true end
      for p, v in pairs(r.props) do sh.props[p] = v end
      for p in pairs(r.required) do sh.required[p] = true end
      if r.enum then sh.enum = r.enum end
      if r.items then sh.items = r.items end
    end
  end
  if next(sh.types) == nil and not sh.enum and next(sh.props) == nil and sh.items == nil and not ref then
    sh.any = true
  end
  return sh
end

local function set_text(set)
  local keys = sorted_keys(set)
  return #keys > 0 and concat(keys, "|") or "any"
end

-- Types the new side lacks: integer counts as included in number.
local function missing_types(from, to)
  local out = {}
  for t in pairs(from) do
    if not to[t] and not (t == "integer" and to.number) then out[t] = true end
  end
  return out
end

local function name(path, key) return path == "" and key or (path .. "." .. key) end

-- Input: what the old client sends must still be accepted.
local function compare_input(old, new, oldd, newd, path, report, depth)
  if depth > MAX_DEPTH then return end
  local o, n = shape(old, oldd), shape(new, newd)
  if n.any then return end
  if path ~= "" and not o.any then
    if next(n.types) and next(missing_types(o.types, n.types)) then
      report(format('narrowed input field "%s": %s -> %s', path, set_text(o.types), set_text(n.types)))
    elseif n.enum and (not o.enum or next(missing_types(o.enum, n.enum))) then
      report(format('narrowed input field "%s": values %s -> %s', path, o.enum and set_text(o.enum) or "any",
        set_text(n.enum)))
    end
  end
  for _, k in ipairs(sorted_keys(n.required)) do
    if not o.required[k] then report(format('newly required input field "%s"', name(path, k))) end
  end
  for _, k in ipairs(sorted_keys(o.props)) do
    if n.props[k] ~= nil then compare_input(o.props[k], n.props[k], oldd, newd, name(path, k), report, depth + 1) end
  end
  if o.items and n.items then compare_input(o.items, n.items, oldd, newd, path .. "[]", report, depth + 1) end
end

-- Output: what the old client reads must still come.
local function compare_output(old, new, oldd, newd, path, report, depth)
  if depth > MAX_DEPTH then return end
  local o, n = shape(old, oldd), shape(new, newd)
  if o.any then return end
  if path ~= "" then
    if n.any or (next(o.types) and next(missing_types(n.types, o.types))) then
      report(format('changed output field "%s": %s -> %s', path, set_text(o.types),
        n.any and "any" or set_text(n.types)))
    elseif o.enum and (not n.enum or next(missing_types(n.enum, o.enum))) then
      report(format('changed output field "%s": values %s -> %s', path, set_text(o.enum),
        n.enum and set_text(n.enum) or "any"))
    end
  end
  for _, k in ipairs(sorted_keys(o.props)) do
    if n.props[k] == nil and not n.any then
      report(format('removed output field "%s"', name(path, k)))
    else
      if o.required[k] and not n.required[k] and not n.any then
        report(format('output field "%s" is no longer always present', name(path, k)))
      end
      compare_output(o.props[k], n.props[k], oldd, newd, name(path, k), report, depth + 1)
    end
  end
  if o.items and n.items then compare_output(o.items, n.items, oldd, newd, path .. "[]", report, depth + 1) end
end

-- An operation's input as one object schema: its parameters plus its JSON body's properties.
local function input_schema(op)
  local props, required = {}, {}
  for _, p in ipairs(op.parameters or {}) do
    props[p.name] = p.schema or true
    if p.required then required[#required + 1] = p.name end
  end
  local s = { type = "object", properties = props, required = required }
  local body = op.requestBody and op.requestBody.content and op.requestBody.content["application/json"]
  if body and body.schema then s = { allOf = { s, body.schema } } end
  return s
end

local function output_schema(op)
  local ok = op.responses and op.responses["200"]
  local c = ok and ok.content and ok.content["application/json"]
  return c and c.schema or nil
end

local function compare_ops(old, new, out)
  for _, path in ipairs(sorted_keys(old.paths)) do
    for _, m in ipairs(METHODS) do
      local o = old.paths[path][m]
      if o then
        local label = format("%s %s (%s)", upper(m), path, tostring(o.operationId))
        local n = new.paths[path] and new.paths[path][m]
        if not n then
          out[#out + 1] = label .. ": removed " .. (match(path, "^/rpc/") and "RPC function" or "route")
        else
          local function report(msg) out[#out + 1] = label .. ": " .. msg end
          if n["x-pikku-auth"] == true and o["x-pikku-auth"] == false then report("now needs a session") end
          compare_input(input_schema(o), input_schema(n), old, new, "", report, 0)
          local os_, ns = output_schema(o), output_schema(n)
          if os_ then compare_output(os_, ns or true, old, new, "", report, 0) end
        end
      end
    end
  end
end

local function compare_channels(old, new, out)
  local oc, nc = old["x-pikku-channels"] or {}, new["x-pikku-channels"] or {}
  for _, cname in ipairs(sorted_keys(oc)) do
    local o, n = oc[cname], nc[cname]
    if not n then
      out[#out + 1] = format('channel "%s": removed', cname)
    else
      if o.route ~= n.route then
        out[#out + 1] = format('channel "%s": moved from %s to %s', cname, o.route, n.route)
      end
      for _, key in ipairs(sorted_keys(o.routingKeys)) do
        local ok_, nk = o.routingKeys[key], (n.routingKeys or {})[key] or {}
        for _, value in ipairs(sorted_keys(ok_)) do
          local label = format('channel "%s" %s=%s', cname, key, value)
          local oh, nh = ok_[value], nk[value]
          if not nh then
            out[#out + 1] = label .. ": removed"
          else
            local function report(msg) out[#out + 1] = label .. ": " .. msg end
            if nh.auth == true and oh.auth == false then report("now needs a session") end
            if oh.input or nh.input then compare_input(oh.input or true, nh.input or true, old, new, "", report, 0) end
            if oh.output then compare_output(oh.output, nh.output or true, old, new, "", report, 0) end
          end
        end
      end
    end
  end
end

--- M.compare(old_doc, new_doc) -> a sorted list of breaking changes, one line each: removed routes,
--- RPC functions, channels and handlers; newly required or narrowed input fields; removed, no
--- longer always present or changed output fields; calls that now need a session.
function M.compare(old, new)
  local out = {}
  compare_ops(old, new, out)
  compare_channels(old, new, out)
  sort(out)
  local uniq = {}
  for _, l in ipairs(out) do if uniq[#uniq] ~= l then uniq[#uniq + 1] = l end end
  return uniq
end

return M
