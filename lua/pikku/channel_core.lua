-- The channel transport over the C core: the WebSocket and event-stream connections it holds.
-- One of the two transports behind pikku.channel_transport (ids > 0); docs/internals.md, Channels.
local M = {}

local core = require "pikku.core"

local type = type
local ws_send, ws_close, channel_set, channel_get = core.ws_send, core.ws_close, core.channel_set, core.channel_get
local core_subscribe, core_unsubscribe, core_publish, core_peer =
  core.subscribe, core.unsubscribe, core.publish, core.peer

--- send(cid, data, binary) -> true, or nil when the connection is gone
function M.send(cid, data, binary)
  return ws_send(cid, data, binary and true or nil)
end

--- close(cid, code, reason): starts the close handshake (or ends an event stream)
function M.close(cid, code, reason)
  return ws_close(cid, code, reason)
end

--- set(cid, key, value_or_nil) / get(cid, key): the connection's strings, kept in C
function M.set(cid, key, value)
  return channel_set(cid, key, value)
end

function M.get(cid, key)
  return channel_get(cid, key)
end

--- subscribe(cid, topic) -> true, or nil and why; unsubscribe(cid, topic) -> true
function M.subscribe(cid, topic)
  return core_subscribe(cid, topic)
end

function M.unsubscribe(cid, topic)
  return core_unsubscribe(cid, topic)
end

--- publish(topic, text, exclude) -> number of this worker's receivers; the core forwards it to the
--- other workers too. An exclude that is not one of the core's ids excludes no one here.
function M.publish(topic, text, exclude)
  if type(exclude) ~= "number" or exclude < 0 then exclude = nil end
  return core_publish(topic, text, exclude) or 0
end

--- peer(cid) -> the client's address and port, or nil once the connection is gone
function M.peer(cid)
  return core_peer(cid)
end

--- opening(cid) -> the handle to read the opening request's headers with (during channel_open),
--- and the session a test chose (never, here)
function M.opening(cid)
  return cid, nil
end

return M
