-- The todos app's data layer: users and todos in one SQLite file (pikku.sqlite), created and
-- seeded on first use.
--
-- A store is cheap to make and opens its connection lazily, on the first query, in the process
-- that runs it: the server's master builds the services before it forks the workers, and a
-- SQLite connection must not cross a fork. store:init() creates the schema and the seed data and
-- closes its connection again, so the master can run it at start without keeping a handle.
--
-- Todo ids are strings "todo<N>" (N from an AUTOINCREMENT counter, never reused), as in Pikku's
-- sample ("todo1", "todo2" are the seeds). Tags are stored as JSON text. Timestamps are ISO-8601
-- UTC with milliseconds ("2026-11-24T22:42:55.123Z"), taken from SQLite's clock.
local ffi = require "ffi"
local sqlite = require "pikku.sqlite"
local json = require "pikku.json"
local pikku = require "pikku"

local errors = pikku.errors
local type, tostring, tonumber, ipairs, setmetatable, error, unpack, pcall =
  type, tostring, tonumber, ipairs, setmetatable, error, unpack, pcall
local match, concat = string.match, table.concat
local json_encode, json_decode, json_null = json.encode, json.decode, json.null
local array = json.array   -- marks a table as a JSON array, so an empty one encodes as []

local M = {}

local Store = {}
Store.__index = Store

local NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

local SCHEMA = [[
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  email         TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS todos (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title       TEXT NOT NULL CHECK (length(title) > 0),
  description TEXT,
  completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
  priority    TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high')),
  due_date    TEXT,
  tags        TEXT NOT NULL DEFAULT '[]',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS todos_user ON todos (user_id, created_at);
CREATE TABLE IF NOT EXISTS reminders (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  todo_id    TEXT NOT NULL UNIQUE,
  user_id    TEXT NOT NULL,
  title      TEXT NOT NULL,
  due_date   TEXT,
  created_at TEXT NOT NULL
);
]]

-- The seed users (passwords hashed at seed time) and todos of Pikku's sample.
M.SEED_USERS = {
  { id = "user1", username = "demo", email = "demo@example.com", role = "user", password = "test" },
  { id = "user2", username = "admin", email = "admin@example.com", role = "admin", password = "password" },
}
M.SEED_TODOS = {
  { seq = 1, user_id = "user1", title = "Learn Pikku",
    description = "Go through the Pikku documentation and examples",
    completed = false, priority = "high", tags = { "learning", "pikku" } },
  { seq = 2, user_id = "user1", title = "Build a todo app",
    description = "Create a comprehensive todo app example",
    completed = true, priority = "medium", tags = { "project", "pikku" } },
}

--- Store.new { path = "todos.db", hash = function(password) -> string, temporary = bool? }
--- -> store (not opened yet). temporary: delete the files when the store is garbage collected.
function M.new(opts)
  -- DATABASE_URL: the same store on PostgreSQL (store_pg.lua); REDIS_URL: stats cached (store_cache.lua)
  local backend = os.getenv("DATABASE_URL") and not (opts and opts.sqlite)
  if backend then return require("store_cache").wrap(require("store_pg").new(opts)) end
  if type(opts) ~= "table" or type(opts.path) ~= "string" or opts.path == "" then
    error("store.new: expected { path = <database file>, hash = function(password) }", 2)
  end
  if type(opts.hash) ~= "function" then
    error("store.new: opts.hash must be a function(password) -> hash", 2)
  end
  local self = setmetatable({ path = opts.path, hash = opts.hash, _db = nil, _pid = nil }, Store)
  if opts.temporary then
    -- The files go when the store is collected (at the latest when the Lua state closes).
    local path = opts.path
    self._guard = ffi.gc(ffi.new("char[1]"), function()
      for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(path .. suffix) end
    end)
  end
  return require("store_cache").wrap(self)
end

local getpid
do
  pcall(ffi.cdef, "int getpid(void);")
  if pcall(function() return ffi.C.getpid() end) then
    getpid = function() return ffi.C.getpid() end
  else
    getpid = function() return 0 end
  end
end

--- store:db() -> the connection of this process, opened on first use (schema created if missing).
function Store:db()
  local db, pid = self._db, getpid()
  if db and self._pid == pid then return db end
  -- A connection inherited through fork is not ours to use, nor to close.
  if db then db:forget() end
  db = sqlite.open(self.path)
  db:exec(SCHEMA)
  self._db, self._pid = db, pid
  return db
end

--- store:close(): closes this process's connection (the next call reopens it).
function Store:close()
  local db = self._db
  if not db then return end
  if self._pid == getpid() then db:close() else db:forget() end
  self._db = nil
end

--- store:init(): creates the schema and seeds users and todos once per database file (several
--- processes may run it at once: the seed runs in a write transaction guarded by a meta row).
--- Closes the connection afterwards. Returns true when this call seeded the file.
function Store:init()
  local db = self:db()
  if db:first("SELECT 1 AS yes FROM meta WHERE key = 'seeded'") then
    self:close()
    return false
  end
  -- hash outside the write transaction: PBKDF2 is slow on purpose, and other processes seeding
  -- the same new file wait on that transaction's lock
  local hashes = {}
  for i, u in ipairs(M.SEED_USERS) do hashes[i] = self.hash(u.password) end
  local seeded = db:transaction(function()
    local changes = db:run("INSERT OR IGNORE INTO meta (key, value) VALUES ('seeded', " .. NOW .. ")")
    if changes == 0 then return false end
    for i, u in ipairs(M.SEED_USERS) do
      db:run("INSERT OR IGNORE INTO users (id, username, email, role, password_hash) VALUES (?, ?, ?, ?, ?)",
        u.id, u.username, u.email, u.role, hashes[i])
    end
    for _, t in ipairs(M.SEED_TODOS) do
      db:run("INSERT OR IGNORE INTO todos (seq, user_id, title, description, completed, priority, tags,"
        .. " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, " .. NOW .. ", " .. NOW .. ")",
        t.seq, t.user_id, t.title, t.description, t.completed, t.priority, json_encode(t.tags))
    end
    return true
  end)
  self:close()
  return seeded
end

-- ---- users ------------------------------------------------------------------------------------

-- A users row -> the public user (no password hash).
local function user_of(row)
  if not row then return nil end
  return { id = row.id, username = row.username, email = row.email, role = row.role }
end

--- store:user_by_username(name) -> user, password_hash (or nil)
function Store:user_by_username(username)
  local row = self:db():first("SELECT * FROM users WHERE username = ?", username)
  if not row then return nil end
  return user_of(row), row.password_hash
end

--- store:user_by_id(id) -> user or nil
function Store:user_by_id(id)
  return user_of(self:db():first("SELECT * FROM users WHERE id = ?", id))
end

--- store:stats() -> { users = N, todos = N }
function Store:stats()
  local db = self:db()
  return {
    users = db:first("SELECT count(*) AS n FROM users").n,
    todos = db:first("SELECT count(*) AS n FROM todos").n,
  }
end

-- ---- todos ------------------------------------------------------------------------------------

local COLUMNS = "'todo' || seq AS id, user_id, title, description, completed, priority, due_date, tags,"
  .. " created_at, updated_at"

-- A todos row -> the Todo of the API (optional fields absent when NULL, tags always an array).
local function todo_of(row)
  if not row then return nil end
  local tags = json_decode(row.tags or "[]")
  if type(tags) ~= "table" then tags = {} end
  array(tags)
  return {
    id = row.id,
    userId = row.user_id,
    title = row.title,
    description = row.description,
    completed = row.completed == 1,
    priority = row.priority,
    dueDate = row.due_date,
    tags = tags,
    createdAt = row.created_at,
    updatedAt = row.updated_at,
  }
end
M.todo_of = todo_of

-- rows as the app shows them: shape(row) for each, in a JSON array (an empty one encodes as [])
local function rows_as(rows, shape)
  local out = array()
  for i, r in ipairs(rows) do out[i] = shape(r) end
  return out
end

-- "todo12" -> 12; anything else ("todo012", "todo0") -> nil (no such todo)
local function seq_of(id)
  local n = match(tostring(id or ""), "^todo([1-9]%d*)$")
  return n and tonumber(n) or nil
end

-- Validation the schema also does; kept here so the store is safe to use on its own.
local PRIORITY = { low = true, medium = true, high = true }
local function invalid(path, message)
  return errors.UnprocessableContent(message, { errors = { { path = path, message = message } } })
end

local function check_fields(t, creating)
  if t.userId ~= nil and type(t.userId) ~= "string" then
    error(invalid("/userId", "userId must be a string"))
  end
  if creating or t.title ~= nil then
    if type(t.title) ~= "string" or #t.title < 1 then
      error(invalid("/title", "title must be a non-empty string"))
    end
  end
  if t.priority ~= nil and t.priority ~= json_null and not PRIORITY[t.priority] then
    error(invalid("/priority", 'priority must be one of "low", "medium", "high"'))
  end
  if t.tags ~= nil and t.tags ~= json_null then
    if type(t.tags) ~= "table" then error(invalid("/tags", "tags must be an array of strings")) end
    for i, tag in ipairs(t.tags) do
      if type(tag) ~= "string" then error(invalid("/tags/" .. (i - 1), "each tag must be a string")) end
    end
  end
end

-- The user a public call names, "user1" when it names none (nil or "", like the sample's
-- `userId || 'user1'`).
local function user_or_default(v)
  if v == nil or v == "" then return "user1" end
  return v
end

local function opt_string(v)
  if v == json_null then return nil end
  return v
end

-- "true"/"false" (an uncoerced query string) or a boolean -> boolean; nil otherwise
local function as_bool(v)
  if v == true or v == "true" or v == "1" then return true end
  if v == false or v == "false" or v == "0" then return false end
  return nil
end
M.as_bool = as_bool

local function encode_tags(tags)
  if tags == nil or tags == json_null or #tags == 0 then return "[]" end
  return json_encode(array(tags)) or "[]"
end

--- store:list { userId?, completed?, priority?, tag? } -> todos (newest first)
function Store:list(filters)
  filters = filters or {}
  for _, k in ipairs { "userId", "priority", "tag" } do
    if filters[k] ~= nil and type(filters[k]) ~= "string" then
      error(invalid("/" .. k, k .. " must be a string"))
    end
  end
  if filters.priority ~= nil and filters.priority ~= "" and not PRIORITY[filters.priority] then
    error(invalid("/priority", 'priority must be one of "low", "medium", "high"'))
  end
  local where, params = { "user_id = ?" }, { user_or_default(filters.userId) }
  local completed = as_bool(filters.completed)
  if completed ~= nil then
    where[#where + 1] = "completed = ?"
    params[#params + 1] = completed
  end
  if filters.priority ~= nil and filters.priority ~= "" then
    where[#where + 1] = "priority = ?"
    params[#params + 1] = filters.priority
  end
  if filters.tag ~= nil and filters.tag ~= "" then
    where[#where + 1] = "EXISTS (SELECT 1 FROM json_each(todos.tags) WHERE json_each.value = ?)"
    params[#params + 1] = filters.tag
  end
  local sql = "SELECT " .. COLUMNS .. " FROM todos WHERE " .. concat(where, " AND ")
    .. " ORDER BY created_at DESC, seq DESC"
  local rows = self:db():query(sql, unpack(params, 1, #params))
  return rows_as(rows, todo_of)
end

--- store:get(id) -> todo or nil
function Store:get(id)
  local seq = seq_of(id)
  if not seq then return nil end
  return todo_of(self:db():first("SELECT " .. COLUMNS .. " FROM todos WHERE seq = ?", seq))
end

--- store:create(userId, { title, description?, priority?, dueDate?, tags? }) -> todo
function Store:create(user_id, t)
  check_fields(t, true)
  local db = self:db()
  user_id = user_or_default(user_id)
  if not db:first("SELECT 1 AS x FROM users WHERE id = ?", user_id) then
    error(errors.NotFound("no such user", { userId = user_id }))
  end
  local priority = opt_string(t.priority) or "medium"
  local _, seq = db:run("INSERT INTO todos (user_id, title, description, completed, priority, due_date,"
    .. " tags, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?, " .. NOW .. ", " .. NOW .. ")",
    user_id, t.title, opt_string(t.description), priority, opt_string(t.dueDate), encode_tags(t.tags))
  return self:get("todo" .. seq)
end

-- field of the API -> column
local UPDATABLE = {
  { "title", "title" }, { "description", "description" }, { "priority", "priority" },
  { "dueDate", "due_date" }, { "tags", "tags" }, { "completed", "completed" },
}

-- An update of todo id with the API's fields t: the SET list and its parameters (the row's seq last),
-- or nil when id names no todo. placeholder(i, column) is the i-th parameter in the store's SQL, now
-- its current time. A JSON null clears description and dueDate (its parameter is json.null).
-- Shared with store_pg.lua.
local function update_sets(id, t, placeholder, now)
  local seq = seq_of(id)
  if not seq then return nil end
  check_fields(t, false)
  local sets, params = {}, {}
  for _, f in ipairs(UPDATABLE) do
    local v = t[f[1]]
    if v ~= nil then
      if f[1] == "tags" then
        v = encode_tags(v)
      elseif f[1] == "completed" then
        v = as_bool(v)
        if v == nil then error(invalid("/completed", "completed must be a boolean")) end
      elseif v == json_null and f[1] ~= "description" and f[1] ~= "dueDate" then
        error(invalid("/" .. f[1], f[1] .. " may not be null"))
      end
      params[#params + 1] = v
      sets[#sets + 1] = f[2] .. " = " .. placeholder(#params, f[2])
    end
  end
  sets[#sets + 1] = "updated_at = " .. now
  params[#params + 1] = seq
  return concat(sets, ", "), params
end

local function sqlite_placeholder() return "?" end

--- store:update(id, { title?, description?, priority?, dueDate?, tags?, completed? }) -> todo or nil
--- A JSON null clears description and dueDate.
function Store:update(id, t)
  local sets, params = update_sets(id, t, sqlite_placeholder, NOW)
  if not sets then return nil end
  local changes = self:db():run("UPDATE todos SET " .. sets .. " WHERE seq = ?", unpack(params, 1, #params))
  if changes == 0 then return nil end
  return self:get(id)
end

--- store:complete(id) -> todo or nil
function Store:complete(id)
  return self:update(id, { completed = true })
end

-- ---- reminders, summaries, cleanup (the app's queue and schedules) ------------------------------

-- a reminders row and a summary row as the app shows them (shared with store_pg.lua)
local function reminder_of(r)
  return { todoId = r.todo_id, userId = r.user_id, title = r.title, dueDate = r.due_date, createdAt = r.created_at }
end
local function summary_of(r)
  return { userId = r.user_id, open = r.open or 0, overdue = r.overdue or 0, completed = r.completed or 0 }
end

--- store:add_reminder(todo) -> true when it was added (one reminder per todo: a job that runs
--- again after a crash adds nothing)
function Store:add_reminder(todo)
  return self:db():run("INSERT OR IGNORE INTO reminders (todo_id, user_id, title, due_date, created_at)"
    .. " VALUES (?, ?, ?, ?, " .. NOW .. ")", todo.id, todo.userId, todo.title, todo.dueDate or json_null) > 0
end

--- store:reminders(userId?) -> { { todoId, userId, title, dueDate, createdAt }, ... } (newest first)
function Store:reminders(user_id)
  local rows = self:db():query("SELECT todo_id, user_id, title, due_date, created_at FROM reminders"
    .. " WHERE user_id = ? ORDER BY id DESC", user_or_default(user_id))
  return rows_as(rows, reminder_of)
end

--- store:summary(now_iso) -> { { userId, open, overdue, completed }, ... }: per user, the open todos,
--- those of them whose dueDate is before now_iso (ISO 8601 strings compare as times), and the completed.
function Store:summary(now_iso)
  local rows = self:db():query("SELECT users.id AS user_id,"
    .. " sum(todos.completed = 0) AS open,"
    .. " sum(todos.completed = 0 AND todos.due_date IS NOT NULL AND todos.due_date < ?) AS overdue,"
    .. " sum(todos.completed = 1) AS completed"
    .. " FROM users LEFT JOIN todos ON todos.user_id = users.id GROUP BY users.id ORDER BY users.id", now_iso)
  return rows_as(rows, summary_of)
end

--- store:delete_completed_before(cutoff) -> how many completed todos last changed before cutoff
--- (an ISO 8601 UTC time like the stored ones, which compare as strings) were deleted
function Store:delete_completed_before(cutoff)
  return self:db():run("DELETE FROM todos WHERE completed = 1 AND updated_at < ?", cutoff)
end

--- store:delete(id) -> true when a todo was deleted
function Store:delete(id)
  local seq = seq_of(id)
  if not seq then return false end
  return self:db():run("DELETE FROM todos WHERE seq = ?", seq) > 0
end

-- for store_pg.lua: the rules both stores apply
M.reminder_of, M.summary_of, M.rows_as = reminder_of, summary_of, rows_as
M.check_fields, M.invalid, M.seq_of, M.user_or_default, M.opt_string, M.encode_tags, M.update_sets =
  check_fields, invalid, seq_of, user_or_default, opt_string, encode_tags, update_sets

return M
