-- The channel transport pikku.channel talks to: each call goes to the one that holds the connection.
--
-- A transport is a table of functions (pikku.channel_core over the C core, ids > 0;
-- pikku.channel_fake for `pikku test`, ids < 0):
--   send(cid, data, binary) -> true | nil        close(cid, code, reason)
--   set(cid, key, value_or_nil) -> true | nil    get(cid, key) -> string | nil
--   subscribe(cid, topic) -> true | nil, why     unsubscribe(cid, topic) -> true | nil, why
--   publish(topic, text, exclude_cid?) -> number of local receivers | nil, why
-- why: the core's refusal, core.TOO_MANY_TOPICS or core.TOPIC_TOO_LONG.
--   peer(cid) -> address, port | nil             opening(cid) -> handle, session_or_nil
-- A call with an id no connection has (any more) returns nil.
local M = {}

local core = require "pikku.core"
local real = require "pikku.channel_core"
local fake = require "pikku.channel_fake"

local ipairs = ipairs

for _, name in ipairs { "send", "close", "set", "get", "subscribe", "unsubscribe", "peer", "opening" } do
  local real_fn, fake_fn = real[name], fake[name]
  M[name] = function(cid, a, b)
    if cid < 0 then return fake_fn(cid, a, b) end
    return real_fn(cid, a, b)
  end
end

local real_publish, fake_publish = real.publish, fake.publish

--- publish(topic, text, exclude_cid?) -> number of local receivers: the in-process subscribers, and
--- outside `pikku test` the core's (which also forwards it to the other workers); or nil, why for
--- a topic name over the core's limit (refused by both).
function M.publish(topic, text, exclude)
  local n, why = fake_publish(topic, text, exclude)
  if n == nil then return nil, why end
  if not core.test then
    local m
    m, why = real_publish(topic, text, exclude)
    if m == nil then return nil, why end
    n = n + m
  end
  return n
end

return M
