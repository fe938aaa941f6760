-- pikku.pg: PostgreSQL for functions: a pool of libpq connections (pikku.pg_c), parameterised queries, transactions.
local M = {}

local pg_c = require "pikku.pg_c"
local outbound = require "pikku.outbound"
local json = require "pikku.json"

local type, tostring, tonumber, select, error, setmetatable, pcall, floor =
  type, tostring, tonumber, select, error, setmetatable, pcall, math.floor
local match, format, gsub, gmatch, char = string.match, string.format, string.gsub, string.gmatch, string.char
local wait, fail, redact, number = outbound.wait, outbound.fail, outbound.redact, outbound.number
local c_connect = pg_c.connect
local json_decode, json_encode, json_null, array_mt = json.decode, json.encode, json.null, json.array_mt

M.null = json_null   -- a parameter that must be NULL inside a list; nil works as well

M.defaults = {
  pool_size = 10, pool_wait_ms = 5000, timeout_ms = 15000, connect_timeout_ms = 5000,
  statement_timeout_ms = nil,   -- nil: the query timeout; 0: none
}

local function unescape(s)
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- parse_url("postgres://user:password@host:port/db?sslmode=disable") -> libpq keywords
function M.parse_url(url)
  if type(url) ~= "string" then error("pikku.pg: the URL must be a string like postgres://user:pw@host:5432/db", 3) end
  local rest = match(url, "^postgres://(.*)$") or match(url, "^postgresql://(.*)$")
  if rest == nil then
    error("pikku.pg: unsupported URL " .. redact(url) .. " (postgres://user:password@host:port/dbname)", 3)
  end
  local p = {}
  local query
  rest, query = match(rest, "^([^?]*)%??(.*)$")
  local auth, hostpart = match(rest, "^(.*)@([^@]*)$")
  if auth then
    local u, pw = match(auth, "^([^:]*):(.*)$")
    if u then p.user, p.password = unescape(u), unescape(pw) else p.user = unescape(auth) end
  else
    hostpart = rest
  end
  local hp, db = match(hostpart, "^([^/]*)/?(.*)$")
  if db ~= "" then p.dbname = unescape(db) end
  local h6, p6 = match(hp, "^%[(.-)%]:?(%d*)$")
  local host, port
  if h6 then host, port = h6, p6 else host, port = match(hp, "^([^:]*):?(%d*)$") end
  if host and host ~= "" then p.host = unescape(host) end
  if port and port ~= "" then p.port = port end
  for k, v in gmatch(query or "", "([^&=]+)=([^&]*)") do p[unescape(k)] = unescape(v) end
  return p
end

-- A query parameter as text (nil for NULL).
local function param(v)
  local t = type(v)
  if v == nil or v == json_null then return nil end
  if t == "string" then return v end
  if t == "number" then
    if v == floor(v) and v > -2^53 and v < 2^53 then return format("%d", v) end
    return format("%.17g", v)
  end
  if t == "boolean" then return v and "true" or "false" end
  if t == "table" then
    local s, err = json_encode(v)
    if s == nil then error("pikku.pg: a table parameter cannot be encoded as JSON: " .. tostring(err), 4) end
    return s
  end
  error("pikku.pg: a " .. t .. " cannot be a query parameter", 4)
end

local Pool, Tx = {}, {}
Pool.__index, Tx.__index = Pool, Tx

local function open(self)
  local conn
  local ok, kind, msg = wait("pikku.pg", function(token)
    local c, k, m = c_connect(self.params, token, self.connect_timeout, json_decode)
    if c == nil then return nil, k, m end
    conn = c
  end, function() if conn then conn:cancel() end end)
  if not ok then
    if conn then conn:close() end
    fail("pikku.pg", kind, format("cannot connect to %s: %s", self.url, tostring(msg)), nil, 3)
  end
  return conn
end

--- connect(url?, opts?) -> a pool (no connection is made until a query runs). url defaults to
--- $DATABASE_URL. opts: pool_size (10), pool_wait_ms (5000: longest wait for a free connection),
--- timeout_ms (15000 per query), statement_timeout_ms (the server's limit; default timeout_ms),
--- connect_timeout_ms (5000), options (server settings: "-c search_path=app"), prepare (true:
--- statements with parameters are prepared once per connection; false for a pooler in transaction mode).
function M.connect(url, opts)
  url = url or os.getenv("DATABASE_URL")
  if url == nil then error("pikku.pg.connect: no URL given and DATABASE_URL is not set", 2) end
  opts = opts or {}
  local d = M.defaults
  local params = M.parse_url(url)
  local timeout = number(opts.timeout_ms, "pikku.pg: timeout_ms", d.timeout_ms)
  local st = number(opts.statement_timeout_ms, "pikku.pg: statement_timeout_ms", d.statement_timeout_ms or timeout)
  if opts.options then   -- extra server settings, e.g. "-c search_path=app"
    params.options = (params.options and params.options .. " " or "") .. tostring(opts.options)
  end
  if st > 0 then
    params.options = (params.options and params.options .. " " or "") .. "-c statement_timeout=" .. format("%d", st)
  end
  local self = setmetatable({
    -- with a statement timeout the server ends a slow query itself (the connection stays usable):
    -- the client's own limit comes a little later, for a server that does not answer at all
    url = redact(url), params = params, timeout = st > 0 and st <= timeout and timeout + 250 or timeout,
    prepare = opts.prepare ~= false,
    connect_timeout = number(opts.connect_timeout_ms, "pikku.pg: connect_timeout_ms", d.connect_timeout_ms),
  }, Pool)
  self.pool = outbound.pool {
    service = "pikku.pg", size = number(opts.pool_size, "pikku.pg: pool_size", d.pool_size),
    wait_ms = number(opts.pool_wait_ms, "pikku.pg: pool_wait_ms", d.pool_wait_ms),
    open = function() return open(self) end,
    alive = function(c) return c:alive() end,
    close = function(c) c:close() end,
  }
  return self
end

-- conn -> { [sql] = statement name, n = count }: the statements prepared on each connection
local prepared = setmetatable({}, { __mode = "k" })
local MAX_PREPARED = 256   -- per connection; later statements go unnamed

local function send(conn, how, timeout, a, b, _n, ...)
  return wait("pikku.pg", function(token, ...)
    return conn[how](conn, token, timeout, a, b, ...)
  end, function() conn:cancel() end, ...)
end

-- Runs one query on conn: rows, affected or nil, kind, message, sqlstate. A statement with
-- parameters is prepared on the connection the first time (one more round trip) and run by name
-- after, so the server parses and plans it once per connection (opts.prepare = false: never).
local function run(p, conn, sql, ...)
  local n = select("#", ...)
  local a = { ... }
  for i = 1, n do a[i] = param(a[i]) end
  local timeout = p.timeout
  if p.prepare and n > 0 then
    local cache = prepared[conn]
    if cache == nil then cache = { n = 0 }; prepared[conn] = cache end
    local name = cache[sql]
    if name == nil and cache.n < MAX_PREPARED then
      name = "pikku_" .. (cache.n + 1)
      local ok, kind, msg, code = send(conn, "prepare", timeout, sql, name, 0)
      if not ok then return nil, kind, msg, code end
      cache.n = cache.n + 1
      cache[sql] = name
    end
    if name then
      local rows, affected, msg, code = send(conn, "query_prepared", timeout, name, n, n, unpack(a, 1, n))
      -- a plan the schema changed under, or a statement gone: run it unnamed this time
      if rows ~= nil or (code ~= "0A000" and code ~= "26000") then
        if rows ~= nil then setmetatable(rows, array_mt) end
        return rows, affected, msg, code
      end
      cache[sql] = nil
    end
  end
  local rows, affected, msg, code = send(conn, "query", timeout, sql, n, n, unpack(a, 1, n))
  if rows ~= nil then setmetatable(rows, array_mt) end
  return rows, affected, msg, code
end

local function check_sql(sql, level)
  if type(sql) ~= "string" then error("pikku.pg: the query must be a string", level + 1) end
end

--- pool:query(sql, ...) -> rows, affected: $1, $2... take the values after sql (nil or
--- pikku.pg.null: NULL; tables: JSON). rows is a list of tables keyed by column name (NULL columns
--- absent); int, float, numeric, bool, json/jsonb are converted, the rest stays text. An error
--- raises with .kind ("pg" with .code the SQLSTATE, "timeout", "closed", "pool", ...).
function Pool:query(sql, ...)
  check_sql(sql, 2)
  local conn, fresh = self.pool:acquire()
  local rows, affected, msg, code = run(self, conn, sql, ...)
  if rows == nil and affected == "closed" and not fresh then   -- an idle connection the server dropped
    self.pool:release(conn, true)
    conn = self.pool:acquire()
    rows, affected, msg, code = run(self, conn, sql, ...)
  end
  local kind = rows == nil and affected or nil
  -- a statement that left a transaction open must not reach the next call: that connection goes
  self.pool:release(conn, (kind ~= nil and kind ~= "pg") or (kind == nil and conn:in_transaction()))
  if rows == nil then fail("pikku.pg", kind, msg, code, 2) end
  return rows, affected
end

--- pool:begin() -> tx: a transaction on a connection of its own until tx:commit() or
--- tx:rollback(). pool:transaction(fn) is the safer form.
function Pool:begin()
  local conn = self.pool:acquire()
  local rows, kind, msg, code = run(self, conn, "BEGIN")
  if rows == nil then
    self.pool:release(conn, kind ~= "pg")
    fail("pikku.pg", kind, msg, code, 2)
  end
  return setmetatable({ pool = self, conn = conn }, Tx)
end

--- tx:query(sql, ...) -> rows, affected (as pool:query)
function Tx:query(sql, ...)
  check_sql(sql, 2)
  local conn = self.conn
  if conn == nil then error("pikku.pg: the transaction is over (committed or rolled back)", 2) end
  local rows, affected, msg, code = run(self.pool, conn, sql, ...)
  if rows == nil then
    if affected ~= "pg" then   -- the connection is gone, and the transaction with it
      self.conn = nil
      self.pool.pool:release(conn, true)
    end
    fail("pikku.pg", affected, msg, code, 2)
  end
  return rows, affected
end

local function finish_tx(self, sql, level)
  local conn = self.conn
  if conn == nil then error("pikku.pg: the transaction is over (committed or rolled back)", level + 1) end
  self.conn = nil
  local rows, kind, msg, code = run(self.pool, conn, sql)
  self.pool.pool:release(conn, rows == nil or conn:in_transaction())
  if rows == nil then fail("pikku.pg", kind, msg, code, level + 1) end
  return true
end

function Tx:commit() return finish_tx(self, "COMMIT", 2) end
function Tx:rollback() return finish_tx(self, "ROLLBACK", 2) end

--- pool:transaction(fn, ...) -> what fn(tx, ...) returns: BEGIN, fn, COMMIT; when fn raises,
--- ROLLBACK and the error is raised again (nothing of the transaction is left behind).
function Pool:transaction(fn, ...)
  if type(fn) ~= "function" then error("pikku.pg: transaction expects a function(tx)", 2) end
  local tx = self:begin()
  local res = { pcall(fn, tx, ...) }
  if not res[1] then
    if tx.conn then pcall(Tx.rollback, tx) end
    error(res[2], 0)
  end
  if tx.conn then tx:commit() end
  return unpack(res, 2, table.maxn(res))
end

--- pool:close(): closes the idle connections.
function Pool:close() self.pool:close() end

--- pool:stats() -> { open, idle, waiting, size }
function Pool:stats() return self.pool:stats() end

return M
