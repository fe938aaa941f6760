-- services.eventhub: topics for channel connections. subscribe/unsubscribe act on the connection
-- of the calling channel message; publish works from any call on any transport, and the core
-- fans it out to every worker (docs/internals.md, Channels).
local M = {}

local channel = require "pikku.channel"
local core = require "pikku.core"
local errors = require "pikku.errors"
local json = require "pikku.json"

local type, tostring, error = type, tostring, error
local json_encode = json.encode

-- 8 MiB (the hub's frame limit, core/src/hub.h) minus the 25 bytes of a publish frame's fixed part
local MAX_MESSAGE = 8 * 1024 * 1024 - 25

local function check_topic(topic, what)
  if type(topic) ~= "string" or topic == "" then
    error("services.eventhub:" .. what .. ": topic must be a non-empty string, got "
      .. (type(topic) == "string" and '""' or type(topic)), 3)
  end
end

-- A topic the core refused (the transports return its message): too many topics on this
-- connection is 429 TooManyRequests, a name over core.MAX_TOPIC_LEN bytes 400 BadRequest.
local function refused(why)
  if why == core.TOO_MANY_TOPICS then return errors.TooManyRequests(why) end
  return errors.BadRequest(why)
end

local function current(what)
  local cid = channel.current()
  if cid == nil then
    error("services.eventhub:" .. what .. ": only a function called from a channel connection can "
      .. what .. " (this call did not come from a channel)", 3)
  end
  return cid
end

--- M.new() -> the eventhub service. Methods work with ":" and with ".".
function M.new()
  local hub = {}

  -- hub:subscribe and hub:unsubscribe: the same checks, then channel's function of that name.
  local function membership(op)
    return function(a, b)
      local topic = a
      if a == hub then topic = b end   -- not "a == hub and b or a": a nil topic must say nil
      check_topic(topic, op)
      local ok, why = channel[op](current(op), topic)
      if ok == nil and why then error(refused(why), 0) end
      return true
    end
  end

  --- hub:subscribe(topic): the calling connection receives what is published on topic.
  hub.subscribe = membership("subscribe")

  --- hub:unsubscribe(topic)
  hub.unsubscribe = membership("unsubscribe")

  --- hub:publish(topic, data, { exclude = channel_id }?) -> the number of receivers on this worker.
  --- data is sent as JSON to every subscriber, on every worker.
  function hub.publish(a, b, c, d)
    local topic, data, opts = a, b, c
    if a == hub then topic, data, opts = b, c, d end
    check_topic(topic, "publish")
    local text, err = json_encode(data)
    if text == nil then
      error("services.eventhub:publish: the data cannot be encoded as JSON: " .. tostring(err), 2)
    end
    if #topic + #text > MAX_MESSAGE then   -- checked here too, so that pikku test behaves the same
      error("services.eventhub:publish: topic and data over " .. MAX_MESSAGE
        .. " bytes (the limit of a message between workers)", 2)
    end
    local exclude = nil
    if opts ~= nil then
      if type(opts) ~= "table" then
        error("services.eventhub:publish: the options must be a table { exclude = channel_id }", 2)
      end
      exclude = opts.exclude
      if exclude ~= nil and type(exclude) ~= "number" then
        error("services.eventhub:publish: exclude must be a channel id (wire.channel.id), got " .. type(exclude), 2)
      end
    end
    local n, why = channel.publish(topic, text, exclude)
    if n == nil then error(refused(why), 0) end
    return n
  end

  return hub
end

return M
