-- Deterministic, pretty JSON for generated files: sorted keys, two-space indent, no timestamps.
local M = {}

local type, pairs, ipairs, tostring, error, getmetatable, setmetatable =
  type, pairs, ipairs, tostring, error, getmetatable, setmetatable
local format, gsub, byte, rep = string.format, string.gsub, string.byte, string.rep
local sort, concat = table.sort, table.concat
local floor, huge = math.floor, math.huge

-- Tables marked with this metatable are arrays, also when empty (the generators build them so).
local ARRAY = { __name = "json_out.array" }
M.ARRAY = ARRAY

-- Recognised besides ARRAY: pikku.json's own marks and cjson.null, when the host has them.
local ok_json, pjson = pcall(require, "pikku.json")
local ARRAY2 = ok_json and pjson.array_mt or nil
local NULL = ok_json and pjson.null or nil
local OBJECT2 = ok_json and pjson.object_mt or nil
M.null = NULL or setmetatable({}, { __name = "json_out.null" })

--- M.array(t) -> t marked as a JSON array.
function M.array(t) return setmetatable(t or {}, ARRAY) end

--- M.is_array(t) -> whether t is written as a JSON array: marked, or a non-empty sequence.
local function is_array(t)
  local mt = getmetatable(t)
  if mt == ARRAY or (ARRAY2 and mt == ARRAY2) then return true end
  if mt == OBJECT2 then return false end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end
M.is_array = is_array

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
              ['\r'] = '\\r', ['\t'] = '\\t' }
local function quote(s)
  return '"' .. gsub(s, '[%z\1-\31"\\\127]', function(c)
    return ESC[c] or format("\\u%04x", byte(c))
  end) .. '"'
end
M.quote = quote

local function number(n)
  if n ~= n or n == huge or n == -huge then error("json_out: NaN or infinity is not JSON", 0) end
  if n == floor(n) and n > -2^53 and n < 2^53 then return format("%d", n) end
  return format("%.17g", n)
end

local function encode(v, indent, out, depth)
  local t = type(v)
  if v == nil or v == M.null or (NULL and v == NULL) then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then out[#out + 1] = number(v)
  elseif t == "string" then out[#out + 1] = quote(v)
  elseif t == "table" then
    if depth > 200 then error("json_out: nested too deeply (a cycle?)", 0) end
    local pad, inner = rep(indent, depth), rep(indent, depth + 1)
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]" return end
      out[#out + 1] = "[\n"
      for i, x in ipairs(v) do
        out[#out + 1] = inner
        encode(x, indent, out, depth + 1)
        out[#out + 1] = i < #v and ",\n" or "\n"
      end
      out[#out + 1] = pad .. "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then error("json_out: an object key is not a string: " .. tostring(k), 0) end
        keys[#keys + 1] = k
      end
      if #keys == 0 then out[#out + 1] = "{}" return end
      sort(keys)
      out[#out + 1] = "{\n"
      for i, k in ipairs(keys) do
        out[#out + 1] = inner .. quote(k) .. ": "
        encode(v[k], indent, out, depth + 1)
        out[#out + 1] = i < #keys and ",\n" or "\n"
      end
      out[#out + 1] = pad .. "}"
    end
  else
    error("json_out: a " .. t .. " is not JSON", 0)
  end
end

--- M.encode(v) -> pretty JSON text ending with a newline; keys sorted, so equal input gives equal bytes.
function M.encode(v)
  local out = {}
  encode(v, "  ", out, 0)
  out[#out + 1] = "\n"
  return concat(out)
end

--- M.compact(v) -> the same on one line (for values embedded in generated code).
function M.compact(v)
  local out = {}
  local function walk(x)
    local t = type(x)
    if t == "table" and x ~= M.null and not (NULL and x == NULL) then
      if is_array(x) then
        out[#out + 1] = "["
        for i, y in ipairs(x) do if i > 1 then out[#out + 1] = "," end walk(y) end
        out[#out + 1] = "]"
      else
        local keys = {}
        for k in pairs(x) do keys[#keys + 1] = k end
        sort(keys)
        out[#out + 1] = "{"
        for i, k in ipairs(keys) do
          if i > 1 then out[#out + 1] = "," end
          out[#out + 1] = quote(k) .. ":"
          walk(x[k])
        end
        out[#out + 1] = "}"
      end
    else
      local o = {}
      encode(x, "", o, 0)
      out[#out + 1] = concat(o)
    end
  end
  walk(v)
  return concat(out)
end

return M
