-- Building a request's `data` from its query string and body, and the conflicts between sources.
local M = {}

local errors = require "pikku.errors"
local http = require "pikku.http"
local json = require "pikku.json"

local type, tostring, tonumber, pairs, ipairs, next = type, tostring, tonumber, pairs, ipairs, next
local find, match, gsub, format, lower = string.find, string.match, string.gsub, string.format, string.lower
local json_decode, json_null, is_object, same = json.decode, json.null, json.is_object, json.equal
local parse_pairs = http.parse_pairs
local header = require("pikku.request_handle").header
local serve_c = require "pikku.serve_c"

--- Methods whose body the runtime does not read into data.
M.NO_BODY_METHODS = { GET = true, HEAD = true, DELETE = true }

local function pointer(k)
  k = gsub(gsub(tostring(k), "~", "~0"), "/", "~1")
  return "/" .. k
end

local function conflict(k, first, second)
  local msg = format('"%s" has different values in the %s and the %s', tostring(k), first, second)
  return errors.UnprocessableContent(msg, { errors = { { path = pointer(k), message = msg } } })
end

-- Path and query values are text: "42" in the path and 42 in a JSON body are the same value
-- (the typed one is kept; "0x2a" or " 42" is not 42). Returns the value to keep, or nil.
local function agree(old, v)
  if same(old, v) then return old end
  local tv = type(v)
  if type(old) ~= "string" then return nil end
  if tv == "number" and tonumber(old) == v and not find(old, "[^%d%.eE+%-]")
      or tv == "boolean" and old == tostring(v) then
    return v
  end
  return nil
end

-- Adds k = v to data from source ("query" or "body"); returns a pikku error when data already
-- holds another value for k.
local function merge_one(data, k, v, r, source)
  local old = data[k]
  if old == nil then
    data[k] = v
    return nil
  end
  local kept = agree(old, v)
  if kept == nil then return conflict(k, r.name_set[k] and "path" or "query", source) end
  data[k] = kept
  return nil
end

--- merge(data, src, route, source) -> nil, or a pikku error on the first key with two different
--- values (source names where src came from: "query" or "body").
local function merge(data, src, r, source)
  for k, v in pairs(src) do
    local err = merge_one(data, k, v, r, source)
    if err then return err end
  end
  return nil
end
M.merge = merge

-- The keys whose query or form values are comma lists (array-typed in the route's input schema),
-- or nil; asked of the validator once per route.
local function comma_keys(r)
  local keys = r.comma_keys
  if keys == nil then
    keys = r.vin and r.vin:top_keys(true) or false
    if keys and next(keys) == nil then keys = false end
    r.comma_keys = keys
  end
  return keys or nil
end

-- "application/json; charset=utf-8" -> "json"; nil for types the runtime does not parse
local KIND = {
  ["application/json"] = "json",
  ["application/x-www-form-urlencoded"] = "form",
  ["text/plain"] = "text",
  ["multipart/form-data"] = "multipart",
}

-- Content-Type values seen, with their kind and base type: clients send the same few on every
-- request, so each is parsed once (bounded, so that values made up per request cannot grow it).
local seen_kind, seen_base, seen_n = {}, {}, 0

--- body_kind(content_type) -> "json" | "form" | "text" | nil, and the lower-case base type.
local function body_kind(ct)
  local base = seen_base[ct]
  if base then return seen_kind[ct] or nil, base end
  base = lower(match(ct, "^%s*([^;%s]+)") or "")
  local kind = KIND[base]
  if kind == nil and find(base, "^application/[^/]+%+json$") then kind = "json" end
  if seen_n < 64 then
    seen_n = seen_n + 1
    seen_kind[ct], seen_base[ct] = kind or false, base
  end
  return kind, base
end
M.body_kind = body_kind

-- "a=1&b=x,y" (a query string or a form body) as data: comma lists split where the input schema
-- says array, values coerced to its types.
local function string_pairs(r, s)
  local t = parse_pairs(s, {}, comma_keys(r))
  local vin = r.vin
  if vin then t = vin:coerce_query(t) or t end
  return t
end

-- Adds v under k, a repeated key making a list (as a repeated query key does).
local function add_repeated(t, k, v)
  local old = t[k]
  if old == nil then t[k] = v
  elseif type(old) == "table" and old[1] ~= nil then old[#old + 1] = v
  else t[k] = { old, v } end
end

-- A multipart/form-data body the core parsed as it arrived (body: its fields and files as JSON):
-- text fields are strings coerced like a form's, each file part { filename, content_type, size,
-- path } (a temporary file the core removes once the request is answered).
local function multipart_data(r, body)
  local v = json_decode(body)
  local t = {}
  for _, f in ipairs(v.fields) do add_repeated(t, f[1], f[2]) end
  local vin = r.vin
  if vin then t = vin:coerce_query(t) or t end
  for _, f in ipairs(v.files) do
    add_repeated(t, f.field, { filename = f.filename, content_type = f.content_type, size = f.size, path = f.path })
  end
  return t
end

--- add_body(data, route, handle, body, tried) -> data (maybe a new table), and a pikku error or nil; a
--- third value true when data is the body decoded and already validated against the route's
--- input schema (the validator's one-pass decode, pikku.schema_c decode). data may be nil (no
--- params or query values): a table is then made only when the body is not itself the data.
--- tried: the core already ran that one pass on this body, and it could not tell (body_predecode.c).
function M.add_body(data, r, handle, body, tried)
  local ct = header(handle, "content-type")
  if ct == nil then
    return data or {}, errors.UnsupportedMediaType(
      "the request has a body but no Content-Type; send application/json,"
      .. " application/x-www-form-urlencoded or text/plain")
  end
  local kind, base = body_kind(ct)
  if kind ~= "json" then data = data or {} end
  if kind == "json" then
    local vin = r.vin
    if vin and not tried and (data == nil or next(data) == nil) then
      -- the body decoded and checked in one pass when it is an object the schema accepts; nil
      -- otherwise (also when that pass cannot tell), and then the two-pass way below says why
      local valid = vin:decode(body)
      if valid ~= nil then return valid, nil, true end
    end
    data = data or {}
    local v, err = json_decode(body)
    if v == nil then
      return data, errors.BadRequest("malformed JSON body: " .. tostring(err))
    end
    if is_object(v) then
      if next(data) == nil then return v, nil end
      return data, merge(data, v, r, "body")
    end
    if v == json_null then return data, nil end
    return data, merge_one(data, "data", v, r, "body")
  elseif kind == "form" then   -- strings, like the query string: coerced the same way
    local form = string_pairs(r, body)
    if next(data) == nil then return form, nil end
    return data, merge(data, form, r, "body")
  elseif kind == "text" then
    return data, merge_one(data, "data", body, r, "body")
  elseif kind == "multipart" then
    if type(handle) ~= "number" or not serve_c.uploads(handle) then
      return data, errors.UnsupportedMediaType("multipart/form-data is parsed by the server's core as the body"
        .. " arrives; an in-process request (pikku test) cannot send one: call the function with t.call")
    end
    local form = multipart_data(r, body)
    if next(data) == nil then return form, nil end
    return data, merge(data, form, r, "body")
  end
  return data, errors.UnsupportedMediaType(format(
    'unsupported Content-Type "%s"; send application/json, application/x-www-form-urlencoded,'
    .. " multipart/form-data or text/plain (or wire the route with raw_body = true)", base))
end

--- query_data(route, query, key_param) -> the query string as data, coerced to the input schema's
--- types when there is one; key_param (pikku.auth's api_key.query, or nil) is left out: it is a
--- credential, and a strict schema would refuse it.
function M.query_data(r, query, key_param)
  local q = string_pairs(r, query)
  if key_param then q[key_param] = nil end
  return q
end

return M
