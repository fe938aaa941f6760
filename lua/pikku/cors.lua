-- CORS for the answers Lua makes: the header lines come from the C core (core/src/cors.c owns CORS).
local core = require "pikku.core"

local M = {}

local cors_response, cors_preflight = core.cors_response, core.cors_preflight

local concat, upper = table.concat, string.upper

-- A list of names as one header value ("a, b"), or nil.
local function joined(list)
  if list == nil or list[1] == nil then return nil end
  return concat(list, ", ")
end

--- M.configure(cfg): hands the settings given to pikku.cors (checked there) to the core, which then
--- answers preflights itself and puts the same lines on its own answers (404, 405).
function M.configure(cfg)
  local methods = joined(cfg.methods)
  core.cors {
    origins = cfg.origins, methods = methods and upper(methods), headers = joined(cfg.headers),
    expose_headers = joined(cfg.expose_headers), credentials = cfg.credentials, max_age = cfg.max_age,
  }
end

--- M.response_lines(origin) -> the CORS header lines of an answer to this origin, or nil
M.response_lines = cors_response

--- M.preflight(origin, request_headers, path) -> the header lines of the 204 answer to a preflight
--- on path (Allow, and the CORS lines for an allowed origin). The core answers real preflights
--- itself; this serves in-process requests and a plain OPTIONS routed to Lua.
M.preflight = cors_preflight

return M
