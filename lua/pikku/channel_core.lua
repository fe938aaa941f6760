-- The channel transport over the C core: the WebSocket and event-stream connections it holds.
-- One of the two transports behind pikku.channel_transport (ids > 0); docs/internals.md, Channels.
local M = {}

local core = require "pikku.core"

local type = type
local core_publish = core.publish

-- send(cid, data, binary) -> true | nil (gone); close(cid, code, reason); set(cid, key, value_or_nil)
-- / get(cid, key): the connection's strings, kept in C; subscribe(cid, topic) -> true | nil, why;
-- unsubscribe(cid, topic) -> true | nil, why; peer(cid) -> address, port | nil: the core's own calls
M.send, M.close = core.ws_send, core.ws_close
M.set, M.get = core.channel_set, core.channel_get
M.subscribe, M.unsubscribe = core.subscribe, core.unsubscribe
M.peer = core.peer

--- publish(topic, text, exclude) -> number of this worker's receivers (nil, why: a topic name over
--- the core's limit); the core forwards it to the other workers too. An exclude that is not one of
--- the core's ids excludes no one here.
function M.publish(topic, text, exclude)
  if type(exclude) ~= "number" or exclude < 0 then exclude = nil end
  local n, why = core_publish(topic, text, exclude)
  if n == nil and why then return nil, why end
  return n or 0
end

--- opening(cid) -> the handle to read the opening request's headers with (during channel_open),
--- and the session a test chose (never, here)
function M.opening(cid)
  return cid, nil
end

return M
