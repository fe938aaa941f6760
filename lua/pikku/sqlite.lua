-- pikku.sqlite: a small SQLite binding over the LuaJIT FFI (the system libsqlite3).
--
--   local sqlite = require "pikku.sqlite"
--   local db = sqlite.open("/var/lib/app/app.db")     -- created if missing; WAL, busy_timeout 5000,
--                                                     -- foreign keys on
--   db:exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT)")  -- any SQL, no results
--   local changes, id = db:run("INSERT INTO t (name) VALUES (?)", "ann")
--   local rows = db:query("SELECT id, name FROM t WHERE id > ?", 0)   -- { {id = 1, name = "ann"}, ... }
--   local row  = db:first("SELECT name FROM t WHERE id = ?", id)      -- a row table, or nil
--   db:transaction(function() db:run(...); db:run(...) end)           -- commit, or roll back and re-raise
--   db:close()
--
-- Parameters bind by position (`?`): strings, numbers (integral values as 64-bit integers, others
-- as doubles), booleans (as 1/0) and nil (or cjson.null) as NULL. Columns come back as Lua values:
-- INTEGER and REAL as numbers, TEXT and BLOB as strings, NULL as nil (absent from the row table).
-- Prepared statements are cached per SQL string, so pass values as parameters, not in the text.
-- Every failure raises a string "sqlite: <message> (<sql>)".
--
-- Several processes may share one file (the server's workers do): WAL lets readers run beside one
-- writer, and busy_timeout makes a writer wait up to 5 s for another's lock instead of failing.
-- That wait blocks the worker's event loop, so keep transactions short. A connection belongs to the
-- process that opened it: open it lazily in each worker (for example on the first call), never in
-- the master before the fork. Do not sleep or otherwise yield inside db:transaction: another call
-- running on the same connection would join the open transaction.
local ffi = require "ffi"

local M = {}

local type, tostring, tonumber, select, error, pcall, setmetatable, unpack, pairs, ipairs =
  type, tostring, tonumber, select, error, pcall, setmetatable, unpack, pairs, ipairs
local floor, maxn = math.floor, table.maxn
local format, find = string.format, string.find
local ffi_string, ffi_new, ffi_cast, ffi_gc = ffi.string, ffi.new, ffi.cast, ffi.gc

-- Each declaration on its own, so a module that declared some of them already does not break us.
for _, decl in ipairs {
  "typedef struct sqlite3 sqlite3;",
  "typedef struct sqlite3_stmt sqlite3_stmt;",
  "typedef long long sqlite3_int64;",
  "int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *zVfs);",
  "int sqlite3_close_v2(sqlite3 *db);",
  "const char *sqlite3_errmsg(sqlite3 *db);",
  "const char *sqlite3_errstr(int rc);",
  "int sqlite3_extended_errcode(sqlite3 *db);",
  "int sqlite3_busy_timeout(sqlite3 *db, int ms);",
  "int sqlite3_exec(sqlite3 *db, const char *sql, void *callback, void *arg, char **errmsg);",
  "void sqlite3_free(void *p);",
  "int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int nbyte, sqlite3_stmt **ppStmt, const char **pzTail);",
  "int sqlite3_finalize(sqlite3_stmt *stmt);",
  "int sqlite3_reset(sqlite3_stmt *stmt);",
  "int sqlite3_clear_bindings(sqlite3_stmt *stmt);",
  "int sqlite3_step(sqlite3_stmt *stmt);",
  "int sqlite3_bind_parameter_count(sqlite3_stmt *stmt);",
  "int sqlite3_bind_null(sqlite3_stmt *stmt, int i);",
  "int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, sqlite3_int64 v);",
  "int sqlite3_bind_double(sqlite3_stmt *stmt, int i, double v);",
  "int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *v, int n, void (*destructor)(void *));",
  "int sqlite3_column_count(sqlite3_stmt *stmt);",
  "const char *sqlite3_column_name(sqlite3_stmt *stmt, int i);",
  "int sqlite3_column_type(sqlite3_stmt *stmt, int i);",
  "sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *stmt, int i);",
  "double sqlite3_column_double(sqlite3_stmt *stmt, int i);",
  "const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int i);",
  "const void *sqlite3_column_blob(sqlite3_stmt *stmt, int i);",
  "int sqlite3_column_bytes(sqlite3_stmt *stmt, int i);",
  "int sqlite3_changes(sqlite3 *db);",
  "sqlite3_int64 sqlite3_last_insert_rowid(sqlite3 *db);",
  "int sqlite3_get_autocommit(sqlite3 *db);",
  "const char *sqlite3_libversion(void);",
} do
  pcall(ffi.cdef, decl)
end

local function load_lib()
  local ok, lib = pcall(ffi.load, "sqlite3")
  if ok then return lib end
  local ok2, lib2 = pcall(ffi.load, "libsqlite3.so.0")
  if ok2 then return lib2 end
  error("pikku.sqlite: cannot load the SQLite library (" .. tostring(lib) .. "; " .. tostring(lib2)
    .. "); install libsqlite3-0 (Debian: apt-get install libsqlite3-dev)", 0)
end
local C = load_lib()

local SQLITE_OK, SQLITE_ROW, SQLITE_DONE = 0, 100, 101
local SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB = 1, 2, 3, 4
local OPEN_READWRITE, OPEN_CREATE, OPEN_NOMUTEX, OPEN_URI = 0x2, 0x4, 0x8000, 0x40
local TRANSIENT = ffi_cast("void (*)(void *)", -1)
local MAX_SAFE_INT = 2 ^ 53
local CACHE_MAX = 256

-- cjson.null is a light userdata NULL; treat it as SQL NULL without requiring cjson here.
local function is_null_ud(v)
  return type(v) == "userdata" and ffi_cast("void *", v) == nil
end

M.version = ffi_string(C.sqlite3_libversion())

local DB = {}
DB.__index = DB

local function fail(self, sql, msg)
  error(format("sqlite: %s (%s)", msg or ffi_string(C.sqlite3_errmsg(self._db)), sql), 0)
end

--- sqlite.open(path) -> db. Creates the file when missing. Raises "sqlite: ..." on failure.
function M.open(path)
  if type(path) ~= "string" or path == "" then
    error("pikku.sqlite.open: path must be a non-empty string (use \":memory:\" for a memory database)", 2)
  end
  local pdb = ffi_new("sqlite3 *[1]")
  local rc = C.sqlite3_open_v2(path, pdb, OPEN_READWRITE + OPEN_CREATE + OPEN_NOMUTEX + OPEN_URI, nil)
  if rc ~= SQLITE_OK then
    local msg = pdb[0] ~= nil and ffi_string(C.sqlite3_errmsg(pdb[0])) or ffi_string(C.sqlite3_errstr(rc))
    if pdb[0] ~= nil then C.sqlite3_close_v2(pdb[0]) end
    error(format("sqlite: %s (open %s)", msg, path), 0)
  end
  local cache, count = {}, { n = 0 }
  -- Closing on garbage collection: a reloaded Lua state frees its connections when it closes.
  local handle = ffi_gc(pdb[0], function(h)
    for sql, st in pairs(cache) do
      C.sqlite3_finalize(st.stmt)
      cache[sql] = nil
    end
    C.sqlite3_close_v2(h)
  end)
  local self = setmetatable({ _db = handle, _cache = cache, _count = count, path = path }, DB)
  C.sqlite3_busy_timeout(handle, 5000)
  if path ~= ":memory:" then
    -- journal_mode returns a row; exec ignores it. WAL may be refused (e.g. some file systems):
    -- the database still works in its default mode then.
    pcall(self.exec, self, "PRAGMA journal_mode = WAL")
  end
  self:exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL")
  return self
end

--- db:exec(sql): runs one or more statements separated by ';', discarding any rows.
function DB:exec(sql)
  local db = self._db
  if db == nil then error("sqlite: the database is closed (" .. tostring(sql) .. ")", 0) end
  local perr = ffi_new("char *[1]")
  local rc = C.sqlite3_exec(db, sql, nil, nil, perr)
  if rc ~= SQLITE_OK then
    local msg
    if perr[0] ~= nil then
      msg = ffi_string(perr[0])
      C.sqlite3_free(perr[0])
    end
    fail(self, sql, msg)
  end
end

-- The cached statement for sql (prepared on first use): { stmt, names, ncol, nparam }.
local function prepare(self, sql)
  local st = self._cache[sql]
  if st then return st end
  local db = self._db
  if db == nil then error("sqlite: the database is closed (" .. tostring(sql) .. ")", 0) end
  if type(sql) ~= "string" then
    error("sqlite: SQL must be a string, got " .. type(sql) .. " (" .. tostring(sql) .. ")", 0)
  end
  local pstmt, ptail = ffi_new("sqlite3_stmt *[1]"), ffi_new("const char *[1]")
  local rc = C.sqlite3_prepare_v2(db, sql, #sql, pstmt, ptail)
  if rc ~= SQLITE_OK then fail(self, sql) end
  local stmt = pstmt[0]
  if stmt == nil then fail(self, sql, "no statement in the SQL text") end
  if ptail[0] ~= nil and find(ffi_string(ptail[0]), "%S") then
    C.sqlite3_finalize(stmt)
    fail(self, sql, "more than one statement; use db:exec for scripts")
  end
  local ncol = C.sqlite3_column_count(stmt)
  local names = {}
  for i = 0, ncol - 1 do names[i] = ffi_string(C.sqlite3_column_name(stmt, i)) end
  st = { stmt = stmt, names = names, ncol = ncol, nparam = C.sqlite3_bind_parameter_count(stmt) }
  local count = self._count
  if count.n >= CACHE_MAX then   -- crude bound: drop the whole cache (SQL built from values)
    for k, old in pairs(self._cache) do
      C.sqlite3_finalize(old.stmt)
      self._cache[k] = nil
    end
    count.n = 0
  end
  self._cache[sql] = st
  count.n = count.n + 1
  return st
end

local function bind(self, sql, st, n, ...)
  local stmt = st.stmt
  if n ~= st.nparam then
    fail(self, sql, format("%d parameter(s) given, the statement has %d", n, st.nparam))
  end
  for i = 1, n do
    local v = select(i, ...)
    local t = type(v)
    local rc
    if v == nil or is_null_ud(v) then
      rc = C.sqlite3_bind_null(stmt, i)
    elseif t == "string" then
      rc = C.sqlite3_bind_text(stmt, i, v, #v, TRANSIENT)
    elseif t == "number" then
      if v ~= v then   -- NaN: SQLite stores it as NULL anyway
        rc = C.sqlite3_bind_null(stmt, i)
      elseif v == floor(v) and v > -MAX_SAFE_INT and v < MAX_SAFE_INT then
        rc = C.sqlite3_bind_int64(stmt, i, v)
      else
        rc = C.sqlite3_bind_double(stmt, i, v)
      end
    elseif t == "boolean" then
      rc = C.sqlite3_bind_int64(stmt, i, v and 1 or 0)
    else
      C.sqlite3_clear_bindings(stmt)
      fail(self, sql, format("parameter %d is a %s; bind strings, numbers, booleans or nil", i, t))
    end
    if rc ~= SQLITE_OK then
      C.sqlite3_clear_bindings(stmt)
      fail(self, sql)
    end
  end
end

local function row_of(st)
  local stmt, names = st.stmt, st.names
  local row = {}
  for i = 0, st.ncol - 1 do
    local ct = C.sqlite3_column_type(stmt, i)
    local v
    if ct == SQLITE_INTEGER then
      v = tonumber(C.sqlite3_column_int64(stmt, i))
    elseif ct == SQLITE_FLOAT then
      v = C.sqlite3_column_double(stmt, i)
    elseif ct == SQLITE_TEXT then
      v = ffi_string(C.sqlite3_column_text(stmt, i), C.sqlite3_column_bytes(stmt, i))
    elseif ct == SQLITE_BLOB then
      local p = C.sqlite3_column_blob(stmt, i)
      v = p ~= nil and ffi_string(p, C.sqlite3_column_bytes(stmt, i)) or ""
    end
    row[names[i]] = v
  end
  return row
end

-- Runs sql with the parameters; collects up to `limit` rows (nil: all). Returns rows.
local function run_stmt(self, sql, limit, ...)
  local st = prepare(self, sql)
  bind(self, sql, st, select("#", ...), ...)
  local stmt = st.stmt
  local rows, n = {}, 0
  while true do
    local rc = C.sqlite3_step(stmt)
    if rc == SQLITE_ROW then
      if limit == nil or n < limit then
        n = n + 1
        rows[n] = row_of(st)
      elseif limit then
        break
      end
    elseif rc == SQLITE_DONE then
      break
    else
      local msg = ffi_string(C.sqlite3_errmsg(self._db))
      C.sqlite3_reset(stmt)
      C.sqlite3_clear_bindings(stmt)
      fail(self, sql, msg)
    end
  end
  C.sqlite3_reset(stmt)
  C.sqlite3_clear_bindings(stmt)
  return rows
end

--- db:query(sql, ...) -> array of rows (column name -> value).
function DB:query(sql, ...)
  return run_stmt(self, sql, nil, ...)
end

--- db:first(sql, ...) -> the first row, or nil.
function DB:first(sql, ...)
  return run_stmt(self, sql, 1, ...)[1]
end

--- db:run(sql, ...) -> changes, last_insert_rowid (for INSERT, UPDATE, DELETE, DDL).
function DB:run(sql, ...)
  run_stmt(self, sql, 0, ...)
  local db = self._db
  return C.sqlite3_changes(db), tonumber(C.sqlite3_last_insert_rowid(db))
end

local savepoint_seq = 0

--- db:transaction(fn, ...) -> fn's results. BEGIN IMMEDIATE (the write lock up front, so two
--- processes never deadlock upgrading a read lock), COMMIT when fn returns, ROLLBACK and re-raise
--- when it raises. Nested calls use savepoints.
function DB:transaction(fn, ...)
  if type(fn) ~= "function" then
    error("pikku.sqlite: db:transaction expects a function, got " .. type(fn), 2)
  end
  local nested = C.sqlite3_get_autocommit(self._db) == 0
  local name
  if nested then
    savepoint_seq = savepoint_seq + 1
    name = "pikku_sp" .. savepoint_seq
    self:exec("SAVEPOINT " .. name)
  else
    self:exec("BEGIN IMMEDIATE")
  end
  local res = { pcall(fn, ...) }
  if res[1] then
    if nested then
      self:exec("RELEASE " .. name)
    else
      local ok, err = pcall(self.exec, self, "COMMIT")
      if not ok then
        pcall(self.exec, self, "ROLLBACK")
        error(err, 0)
      end
    end
    return unpack(res, 2, maxn(res))
  end
  if nested then
    pcall(self.exec, self, "ROLLBACK TO " .. name)
    pcall(self.exec, self, "RELEASE " .. name)
  elseif C.sqlite3_get_autocommit(self._db) == 0 then
    pcall(self.exec, self, "ROLLBACK")
  end
  error(res[2], 0)
end

--- db:close(): finalizes the cached statements and closes the connection (idempotent).
function DB:close()
  local db = self._db
  if db == nil then return end
  for sql, st in pairs(self._cache) do
    C.sqlite3_finalize(st.stmt)
    self._cache[sql] = nil
  end
  self._count.n = 0
  ffi_gc(db, nil)
  self._db = nil
  local rc = C.sqlite3_close_v2(db)
  if rc ~= SQLITE_OK then
    error(format("sqlite: %s (close %s)", ffi_string(C.sqlite3_errstr(rc)), self.path), 0)
  end
end

--- db:forget(): drops the connection without closing it, for a handle inherited through fork
--- (the parent still owns it; closing it in the child could disturb the parent's locks).
function DB:forget()
  local db = self._db
  if db == nil then return end
  ffi_gc(db, nil)
  self._db = nil
  for sql in pairs(self._cache) do self._cache[sql] = nil end
  self._count.n = 0
end

--- db:is_open() -> boolean
function DB:is_open()
  return self._db ~= nil
end

return M
