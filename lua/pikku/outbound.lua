-- What the outbound clients share: waiting in a call, failures as catchable errors, pools with a wait queue, settings.
local M = {}

local runtime = require "pikku.runtime"
local errors = require "pikku.errors"
local outbound_c = require "pikku.outbound_c"

local tostring, tonumber, error, setmetatable, remove = tostring, tonumber, error, setmetatable, table.remove
local format, gsub = string.format, string.gsub
local new_token, suspend, in_call = runtime.new_token, runtime.suspend, runtime.in_call
local new_waiter = outbound_c.waiter

-- token -> function cancelling the operation a call waits on (an abandoned call: runtime.cancel_hook)
local cancels = {}

runtime.cancel_hook = function(token)
  local cancel = cancels[token]
  if cancel == nil then return false end
  cancels[token] = nil
  cancel()
  return true
end

--- wait(what, start, cancel?, ...) -> what the core resumes the call with. start(token, ...) begins
--- the operation; when it returns (nil, kind, message) the failure was known at once and is
--- returned without waiting. cancel() drops the operation if the call is abandoned meanwhile.
function M.wait(what, start, cancel, ...)
  if not in_call() then
    error(what .. ": only inside a function call (not while the app loads, nor in a coroutine of your own)", 3)
  end
  local token = new_token()
  local r1, r2, r3 = start(token, ...)
  if r1 == nil and r2 ~= nil then return nil, r2, r3 end
  if cancel then cancels[token] = cancel end
  local a, b, c, d = suspend(token)
  cancels[token] = nil
  return a, b, c, d
end

-- kind -> the status a failure answers with when the function does not catch it
-- (an abandoned call: 499, nginx's "client closed request"; nobody reads it, and it is not logged)
local STATUS = { timeout = 504, pg = 500, redis = 500, usage = 500, abandoned = 499 }
local NAME = { [504] = "GatewayTimeout", [500] = "InternalServerError", [499] = "ClientClosedRequest" }

--- fail(service, kind, message, code?, level?): raises a pikku error (504 GatewayTimeout for a
--- timeout, 500 for an error the server answered, else 502 BadGateway) carrying .kind, .service
--- and .code (a PostgreSQL SQLSTATE). Catch it with pcall; tostring(e) reads "service: kind: message".
function M.fail(service, kind, message, code, level)
  local status = STATUS[kind] or 502
  local name = NAME[status] or "BadGateway"
  local msg = format("%s: %s: %s", service, kind, tostring(message))
  local e = errors.new(name, status, msg)
  e.kind, e.service, e.code = kind, service, code
  error(e, (level or 1) + 1)
end

--- redact(url) -> url with any password replaced by "***" (for messages and logs).
function M.redact(url)
  return (gsub(tostring(url), "^(%a[%w+.-]*://[^:/@]*:)[^@/]*@", "%1***@"))
end

--- number(v, what, default) -> v as a number, default when nil; raises for anything else.
function M.number(v, what, default)
  if v == nil then return default end
  local n = tonumber(v)
  if n == nil or n ~= n or n < 0 then error(what .. " must be a number >= 0, got " .. tostring(v), 3) end
  return n
end

-- ---- pools -------------------------------------------------------------------------------------

local Pool = {}
Pool.__index = Pool

--- pool { service, size, wait_ms, open = function() -> conn (may wait; raises), alive = fn(conn) }
--- -> a pool lending each connection to one call at a time. Calls beyond `size` wait in order,
--- for `wait_ms` at most.
function M.pool(o)
  return setmetatable({
    service = o.service, size = o.size or 10, wait_ms = o.wait_ms or 5000,
    open_fn = o.open, alive = o.alive, close_fn = o.close,
    idle = {}, nidle = 0, open = 0, queue = {},
  }, Pool)
end

-- Hands conn (or, with conn nil, the right to open one) to the first waiter; false if none waits.
local function hand_over(p, conn)
  local q = p.queue
  while q[1] do
    local w = remove(q, 1)
    w.conn, w.slot = conn, conn == nil
    if w.waiter:wake() then return true end
  end
  return false
end

--- pool:acquire() -> conn, fresh (true when opened for this call, not taken from the idle list).
function Pool:acquire()
  while self.nidle > 0 do
    local conn = self.idle[self.nidle]
    self.idle[self.nidle] = nil
    self.nidle = self.nidle - 1
    if self.alive(conn) then return conn, false end
    self.open = self.open - 1
    self.close_fn(conn)
  end
  if self.open >= self.size then
    local w = { conn = nil, slot = false }
    local q = self.queue
    q[#q + 1] = w
    local woken, kind, msg = M.wait(self.service, function(token)
      w.waiter = new_waiter(token, self.wait_ms)
    end, function()
      w.waiter:cancel()
      for i = 1, #q do if q[i] == w then remove(q, i) break end end
      if w.conn then self:release(w.conn) elseif w.slot then self.open = self.open - 1 end
    end)
    if woken == nil and kind then M.fail(self.service, kind, msg, nil, 2) end
    if not woken then
      for i = 1, #q do if q[i] == w then remove(q, i) break end end
      if w.conn then return w.conn, false end   -- handed over just as the wait ended
      if not w.slot then
        M.fail(self.service, "pool", format("no connection free within %d ms (pool size %d; all in use)",
          self.wait_ms, self.size), nil, 2)
      end
    end
    if w.conn then return w.conn, false end
    self.open = self.open - 1   -- the slot it was handed is counted again below
  end
  self.open = self.open + 1
  local ok, conn = pcall(self.open_fn)
  if not ok then
    self.open = self.open - 1
    if hand_over(self, nil) then self.open = self.open + 1 end
    error(conn, 0)
  end
  return conn, true
end

--- pool:release(conn, broken?): back to the idle list (or closed when broken / dead).
function Pool:release(conn, broken)
  if broken or not self.alive(conn) then
    self.open = self.open - 1
    self.close_fn(conn)
    if self.open < self.size then
      if hand_over(self, nil) then self.open = self.open + 1 end
    end
    return
  end
  if hand_over(self, conn) then return end
  self.nidle = self.nidle + 1
  self.idle[self.nidle] = conn
end

--- pool:close(): closes the idle connections (the ones lent out close when given back).
function Pool:close()
  for i = 1, self.nidle do self.close_fn(self.idle[i]); self.idle[i] = nil end
  self.open = self.open - self.nidle
  self.nidle = 0
end

--- pool:stats() -> { open, idle, waiting, size }
function Pool:stats()
  return { open = self.open, idle = self.nidle, waiting = #self.queue, size = self.size }
end

return M
