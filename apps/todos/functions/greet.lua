-- The RPC sample: POST /rpc/greet {"data": {"name": "Ann"}} -> {"message": "Hello, Ann!", ...}
local pikku = require "pikku"
local ffi = require "ffi"
local schemas = require "schemas"

local tostring, tonumber, pcall, floor = tostring, tonumber, pcall, math.floor

local M = {}

-- Milliseconds since the epoch (like JavaScript's Date.now()).
local now_ms
do
  pcall(ffi.cdef, "typedef struct { long sec; long usec; } pikku_todos_timeval;")
  pcall(ffi.cdef, "int gettimeofday(pikku_todos_timeval *tv, void *tz);")
  local tv = ffi.new("pikku_todos_timeval")
  if pcall(function() return ffi.C.gettimeofday(tv, nil) end) then
    now_ms = function()
      ffi.C.gettimeofday(tv, nil)
      return tonumber(tv.sec) * 1000 + floor(tonumber(tv.usec) / 1000)
    end
  else
    now_ms = function() return os.time() * 1000 end
  end
end
M.now_ms = now_ms

M.greet = pikku.func {
  name = "greet",
  title = "Greet someone",
  tags = { "rpc" },
  auth = false,
  expose = true,
  input = schemas.GreetInput,
  output = schemas.GreetOutput,
  func = function(services, data)
    local greeting = data.greeting
    if greeting == nil or greeting == "" then greeting = "Hello" end
    local message = greeting .. ", " .. tostring(data.name) .. "!"
    services.logger.info("greet: %s", message)
    return { message = message, timestamp = now_ms() }
  end,
}

return M
