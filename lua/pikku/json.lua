-- JSON for apps and the runtime: encode and decode in C (arrays keep their kind, so [] stays []); null is cjson.null.
local C = require "pikku.json_c"
local cjson = require "cjson.safe"

local setmetatable, getmetatable, type, pairs = setmetatable, getmetatable, type, pairs
local array_mt = C.array_mt

local M = {
  encode = C.encode,        -- encode(value) -> string | nil, err
  decode = C.decode,        -- decode(string) -> value | nil, err (arrays marked with array_mt)
  null = cjson.null,        -- JSON null inside tables
  array_mt = array_mt,
  object_mt = C.object_mt,  -- on decoded empty objects, so that {} and [] stay apart
}

--- M.equal(a, b) -> true when a and b are the same value, tables compared field by field.
local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.equal = equal

--- M.is_object(v) -> true when v, a decoded value, was a JSON object (the decoder marks arrays).
function M.is_object(v)
  return type(v) == "table" and getmetatable(v) ~= array_mt
end

-- Marks t (or a new table) as a JSON array, so that it encodes as [] even when empty.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

return M
