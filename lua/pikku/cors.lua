-- CORS for the answers Lua makes: the header lines come from the C core (core/src/cors.c owns CORS).
local core = require "pikku.core"

local M = {}

local cors_response, cors_preflight = core.cors_response, core.cors_preflight

--- M.configure(cfg): hands the table given to pikku.cors (checked there) to the core, which then
--- answers preflights itself and puts the same lines on its own answers (404, 405).
function M.configure(cfg)
  core.cors(cfg)
end

--- M.response_lines(origin) -> the CORS header lines of an answer to this origin, or nil
M.response_lines = cors_response

--- M.preflight(origin, request_headers, path) -> the header lines of the 204 answer to a preflight
--- on path (Allow, and the CORS lines for an allowed origin). The core answers real preflights
--- itself; this serves in-process requests and a plain OPTIONS routed to Lua.
M.preflight = cors_preflight

return M
