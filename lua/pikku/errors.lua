-- Pikku errors: one constructor per HTTP error name, raised with error() and mapped to a status.
local M = {}

local setmetatable, getmetatable, type, tostring = setmetatable, getmetatable, type, tostring
local error, floor, ipairs = error, math.floor, ipairs

-- The metatable every pikku error shares; is() compares against it.
local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  return e.name .. ": " .. tostring(e.message)
end

-- name -> status, and name -> the message used when none is given (also what a hidden 5xx shows)
local STATUS = {}
local DEFAULT_MESSAGE = {}
M.STATUS = STATUS
M.DEFAULT_MESSAGE = DEFAULT_MESSAGE

local function new(name, status, message, payload)
  if message == nil then
    message = DEFAULT_MESSAGE[name] or "Error"
  end
  return setmetatable({ name = name, status = status, message = tostring(message), payload = payload }, Error)
end

--- errors.new(name, status, message, payload) -> error table (for statuses the table below lacks)
function M.new(name, status, message, payload)
  if type(name) ~= "string" or name == "" then
    error("pikku.errors.new: name must be a non-empty string", 2)
  end
  if type(status) ~= "number" or status ~= floor(status) or status < 400 or status > 599 then
    error("pikku.errors.new: status must be an integer from 400 to 599, got " .. tostring(status), 2)
  end
  return new(name, status, message, payload)
end

--- errors.is(value) -> true when value is a pikku error
function M.is(e)
  return type(e) == "table" and getmetatable(e) == Error
end

-- Defines M[name](message, payload).
local function define(name, status, default_message)
  STATUS[name] = status
  DEFAULT_MESSAGE[name] = default_message
  M[name] = function(message, payload)
    return new(name, status, message, payload)
  end
end

-- One constructor per error status of the core's status table (core/src/http_response.c owns the
-- names, statuses and default messages; the C core's own error answers use the same table).
for _, st in ipairs(require("pikku.status_c").errors) do
  define(st.name, st.status, st.message)
end
-- Pikku's two session errors, both 401: no session at all, or one that does not hold.
define("MissingSession", 401, "Missing session")
define("InvalidSession", 401, "Invalid session")

--- errors.for_client(e, dev) -> name, status, message, payload, log: what a client may see of a
--- raised value e. A 5xx (and any value that is not a pikku error) keeps its message and payload
--- for the log (log is true) and shows the client the default message and no payload, unless dev.
function M.for_client(e, dev)
  if M.is(e) then
    if e.status < 500 then return e.name, e.status, e.message, e.payload, false end
    if dev then return e.name, e.status, e.message, e.payload, true end
    return e.name, e.status, DEFAULT_MESSAGE[e.name] or "Internal server error", nil, true
  end
  return "InternalServerError", 500, dev and tostring(e) or "Internal server error", nil, true
end

--- errors.validation_failed(errs, count) -> the 422 of a failed validation (an input schema, a
--- queue's input): the validator lists at most 100 errors (the C core's bound) and counts the
--- rest, so an answer stays small whatever the data; payload.omitted says how many more.
function M.validation_failed(errs, count)
  local listed = #errs
  if count == nil or count <= listed then
    return M.UnprocessableContent("Validation failed", { errors = errs })
  end
  return M.UnprocessableContent(string.format("Validation failed: %d errors, the first %d listed", count, listed),
    { errors = errs, omitted = count - listed })
end

return M
