-- JSON for apps and the runtime: encode in C (empty arrays stay [] when marked), decode with lua-cjson.
local C = require "pikku.json_c"
local cjson = require "cjson.safe"

local setmetatable = setmetatable
local array_mt = C.array_mt

local M = {
  encode = C.encode,        -- encode(value) -> string | nil, err
  decode = cjson.decode,    -- decode(string) -> value | nil, err
  null = cjson.null,        -- JSON null inside tables
  array_mt = array_mt,
}

-- Marks t (or a new table) as a JSON array, so that it encodes as [] even when empty.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

return M
