-- The todos-live channel's own actions: auth (sets the connection's session), subscribe and
-- unsubscribe to the todo topics, and the greeting sent on connect. list, create and complete are
-- the HTTP functions themselves (wired in app.lua).
local pikku = require "pikku"
local schemas = require "schemas"
local auth = require "functions.auth"

local M = {}

M.TOPICS = { "todo-created", "todo-updated", "todo-completed", "todo-deleted" }

local TopicInput = {
  type = "object",
  properties = { topic = { type = "string", enum = M.TOPICS } },
  required = { "topic" },
  additionalProperties = false,
}

M.on_connect = pikku.func {
  title = "Greets a new todos-live connection",
  auth = false,
  func = function()
    return { connected = true }
  end,
}

M.stream = pikku.func {
  title = "Server-sent events: every todo change (GET /todos/stream)",
  auth = false,
  func = function(services)
    for _, topic in ipairs(M.TOPICS) do services.eventhub:subscribe(topic) end
    return { connected = true, topics = M.TOPICS }
  end,
}

M.auth = pikku.func {
  name = "liveAuth",
  title = "Log this connection in: every later message on it has the user's session",
  tags = { "auth", "channel" },
  auth = false,
  errors = { "Unauthorized" },
  input = schemas.LoginInput,
  output = {
    type = "object",
    properties = { authenticated = { type = "boolean" }, userId = { type = "string" } },
    required = { "authenticated", "userId" },
  },
  func = function(services, data, wire)
    local user = auth.check_credentials(services, data.username, data.password)
    wire.set_session { userId = user.id, role = user.role }
    services.logger.info("user %s authenticated on channel connection %.0f", user.id,
      wire.channel and wire.channel.id or 0)
    return { authenticated = true, userId = user.id }
  end,
}

M.subscribe = pikku.func {
  name = "liveSubscribe",
  title = "Receive the events of a todo topic on this connection",
  tags = { "channel" },
  input = TopicInput,
  func = function(services, data)
    services.eventhub:subscribe(data.topic)
    return { subscribed = true, topic = data.topic }
  end,
}

M.unsubscribe = pikku.func {
  name = "liveUnsubscribe",
  title = "Stop receiving a todo topic on this connection",
  tags = { "channel" },
  input = TopicInput,
  func = function(services, data)
    services.eventhub:unsubscribe(data.topic)
    return { unsubscribed = true, topic = data.topic }
  end,
}

return M
