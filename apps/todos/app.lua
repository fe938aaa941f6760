-- The flagship app: Pikku's todo sample on Pikku for Lua, with its data in a SQLite file.
-- Run: build/pikku serve apps/todos   (docs/todos.md lists the routes and options)
local pikku = require "pikku"
local password = require "pikku.password"
local Store = require "store"
local todos = require "functions.todos"
local auth = require "functions.auth"
local live = require "functions.live"
local reminders = require "functions.reminders"
require "functions.greet"   -- declares greet (expose = true): the runtime serves POST /rpc/greet

-- PIKKU_TODOS_DB and TODOS_SECRET, or their defaults: settings.lua.
local settings = require "settings"

pikku.config {
  app = "todos",
  db_path = settings.db_path,
}

-- Sessions: a signed cookie (set by login) or a bearer JWT (returned by login), same secret.
-- CSRF applies to state-changing requests that carry the cookie.
pikku.auth {
  cookie = { name = "pikku_session", secrets = { settings.secret } },
  jwt = { secrets = { settings.secret }, expires_in = 3600 },
  csrf = true,
}

-- Runs once per load (master and each worker state). The store opens its connection lazily in
-- the process that uses it; init() creates and seeds the file, then closes its connection.
pikku.singleton_services(function(config)
  local store = Store.new {
    path = config.db_path, hash = password.hash,
    temporary = settings.testing and config.db_path == settings.default_db,
  }
  store:init()
  return { store = store }
end)

-- Pikku's sample surface.
pikku.wire_http { method = "get", route = "/todos", func = todos.list_todos, auth = false }
pikku.wire_http { method = "get", route = "/todos/:id", func = todos.get_todo, auth = false }
-- the same events as the channel's topics, as server-sent events (one JSON {topic, data} per event)
pikku.wire_http { method = "get", route = "/todos/stream", func = live.stream, auth = false, sse = true }
pikku.wire_http { method = "post", route = "/todos", func = todos.create_todo, auth = false }
pikku.wire_http { method = "put", route = "/todos/:id", func = todos.update_todo, auth = false }
pikku.wire_http { method = "delete", route = "/todos/:id", func = todos.delete_todo, auth = false }
pikku.wire_http { method = "post", route = "/todos/:id/complete", func = todos.complete_todo, auth = false }

pikku.wire_http { method = "post", route = "/login", func = auth.login, auth = false }
pikku.wire_http { method = "post", route = "/logout", func = auth.logout, auth = false }
pikku.wire_http { method = "get", route = "/me", func = auth.me }
pikku.wire_http { method = "get", route = "/admin/stats", func = auth.admin_stats }

-- A page that follows todo changes in the browser, over both the channel and the event stream.
local live_page = pikku.func {
  title = "The todos live page", auth = false,
  func = function(_, _, wire)
    local f = assert(io.open(require("pikku.core").app_dir .. "/public/live.html", "rb"))
    local html = f:read("*a")
    f:close()
    wire.http:send(html, "text/html; charset=utf-8")
  end,
}
pikku.wire_http { method = "get", route = "/live", func = live_page, auth = false }
-- the same page at /, which it shares with the channel below: a browser's plain GET gets the page
pikku.wire_http { method = "get", route = "/", func = live_page, auth = false }

-- Real time: the WebSocket channel todos-live at / (routing key "action"). `auth` logs the
-- connection in; every other action needs that session. Todo changes made over any transport are
-- published to the topics todo-created, todo-updated, todo-completed and todo-deleted.
pikku.wire_channel {
  name = "todos-live",
  route = "/",
  on_connect = live.on_connect,
  on_message_wiring = {
    action = {
      auth = { func = live.auth, auth = false },
      subscribe = { func = live.subscribe, auth = true },
      unsubscribe = { func = live.unsubscribe, auth = true },
      list = { func = todos.list_todos, auth = true },
      create = { func = todos.create_todo, auth = true },
      complete = { func = todos.complete_todo, auth = true },
    },
  },
}

-- Background work (docs/todos.md, Jobs): a reminder job for each todo created with a dueDate, run at
-- that time (retried twice, a minute apart, if it fails); a summary every morning; a weekly cleanup.
pikku.wire_queue_worker {
  name = reminders.QUEUE, func = reminders.send_reminder, concurrency = 4,
  retry_attempts = 2, retry_delay = 60000, timeout = 10000,
}
pikku.wire_scheduler { name = "daily-summary", schedule = "0 9 * * *", func = reminders.daily_summary }
pikku.wire_scheduler { name = "weekly-cleanup", schedule = "0 2 * * 0", func = reminders.weekly_cleanup }

pikku.wire_http {
  method = "get", route = "/reminders", auth = false,
  func = pikku.func {
    title = "The reminders recorded for a user (default user1), newest first",
    auth = false,
    input = { type = "object", properties = { userId = { type = "string" } } },
    func = function(services, data) return { reminders = services.store:reminders(data.userId) } end,
  },
}
