-- The hello app: the routes the benchmarks and the integration tests call.
local pikku = require "pikku"
local greetings = require "greetings"
local books = require "books"
local native = require "native"
local validate = require "validate"

local errors = pikku.errors
local type, tonumber = type, tonumber

pikku.config { app = "hello" }

local hello = pikku.func {
  name = "hello",
  title = "Say hello",
  auth = false,
  func = function()
    return greetings.hello()
  end,
}

-- /users/:id and /echo are benchmark workloads compared with peers that do not validate, so they
-- have no input schema (an echo without a string name is a 400 BadRequest, as the peers answer).
local get_user = pikku.func {
  title = "A user by id",
  auth = false,
  func = function(_, data)
    return greetings.user(data.id)
  end,
}

local echo = pikku.func {
  title = "Echo the name back",
  auth = false,
  func = function(_, data)
    if type(data.name) ~= "string" then
      error(errors.BadRequest("the body must be a JSON object with a string \"name\""))
    end
    return { name = data.name }
  end,
}

local get_book = pikku.func {
  title = "A book by id",
  auth = false,
  func = function(_, data)
    local book = books.get(data.id)
    if not book then
      error(errors.NotFound("no such book", { id = data.id }))
    end
    return book
  end,
}

local boom = pikku.func {
  auth = false,
  func = function()
    error("boom: this function always fails")
  end,
}

local nap = pikku.func {
  name = "nap",
  title = "Sleep for ?ms=N milliseconds without blocking other calls",
  auth = false,
  func = function(services, data)
    local ms = tonumber(data.ms) or 0
    if not (ms >= 0 and ms <= 60000) then   -- also false for NaN
      error(errors.BadRequest("ms must be between 0 and 60000"))
    end
    services.sleep(ms)
    return { slept = ms }
  end,
}

local create_item = pikku.func {
  auth = false,
  func = function(_, data, wire)
    wire.http:set_status(201)
    wire.http:set_header("X-Item", "created")
    wire.http:set_cookie("item", "1", { http_only = true, same_site = "lax" })
    return { created = data }
  end,
}

local echo_data = pikku.func {
  auth = false,
  func = function(_, data)
    return { data = data }
  end,
}

pikku.wire_http { method = "get", route = "/hello", func = hello }
pikku.wire_http { method = "get", route = "/users/:id", func = get_user }
pikku.wire_http { method = "post", route = "/echo", func = echo }
pikku.wire_http { method = "get", route = "/books/:id", func = get_book }
pikku.wire_http { method = "get", route = "/boom", func = boom }
-- a 5xx with a payload: the payload reaches the log, and the client only in development mode
pikku.wire_http { method = "get", route = "/unavailable", func = pikku.func { auth = false, func = function()
  error(errors.ServiceUnavailable("the database at 10.0.0.5 is down", { dsn = "postgres://app:secret@10.0.0.5" }))
end } }
pikku.wire_http { method = "get", route = "/native", func = pikku.func { auth = false, func = native.info } }
pikku.wire_http { method = "get", route = "/sleep", func = nap }
pikku.wire_http { method = "post", route = "/items", func = create_item }
pikku.wire_http { method = "get", route = "/echo-data", func = echo_data }
pikku.wire_http { method = "post", route = "/echo-data", func = echo_data }

-- plain functions are wrapped in pikku.func
pikku.wire_http {
  method = "get", route = "/files/*path",
  func = function(_, data) return { path = data.path } end,
}
pikku.wire_http {
  method = "get", route = "/old",
  func = function(_, _, wire) wire.http:redirect("/hello") end,
}
pikku.wire_http {
  method = "delete", route = "/items/:id",
  func = function() return nil end,
}
pikku.wire_http {
  method = "get", route = "/text",
  func = function(_, _, wire) wire.http:send("plain text\n", "text/plain") end,
}
pikku.wire_http {
  method = "post", route = "/raw", raw_body = true,
  func = function(_, _, wire) return { size = #(wire.http.body or "") } end,
}

-- the client's address as the server sees it (wire.http.remote_addr / remote_port)
pikku.wire_http { method = "get", route = "/whoami", func = function(_, _, wire)
  return { addr = wire.http.remote_addr, port = wire.http.remote_port }
end }

-- POST /validate: the benchmark workload (schema checked in C, one middleware, one permission);
-- POST /validate-schema: only the schema; POST /validate-bare: none of it (what the pipeline costs).
pikku.wire_http {
  method = "post", route = "/validate", middleware = { validate.stamp },
  func = pikku.func {
    name = "validate", auth = false, input = validate.schema,
    permissions = { known_role = validate.roles_known }, func = validate.echo,
  },
}
pikku.wire_http {
  method = "post", route = "/validate-schema",
  func = pikku.func { auth = false, input = validate.schema, func = validate.echo },
}
pikku.wire_http { method = "post", route = "/validate-bare", func = pikku.func { auth = false, func = validate.echo } }

-- WebSocket channels for the benchmarks (tests/bench/ws.sh): an echo, and a fan-out topic that
-- any HTTP request can publish to.
pikku.wire_channel {
  name = "echo", route = "/ws/echo", auth = false,
  on_message = pikku.func { auth = false, func = function(_, message) return message end },
}
pikku.wire_channel {
  name = "fanout", route = "/ws/fanout", auth = false,
  on_message_wiring = { action = {
    subscribe = pikku.func { auth = false, func = function(services, data)
      services.eventhub:subscribe(data.topic)
      return { subscribed = true, topic = data.topic }
    end },
  } },
}
pikku.wire_http { method = "post", route = "/publish/:topic", func = pikku.func { auth = false, func = function(services, data)
  local topic = data.topic
  data.topic = nil
  services.eventhub:publish(topic, data)
  return nil
end } }
