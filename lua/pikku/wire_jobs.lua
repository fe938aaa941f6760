-- pikku.wire_scheduler and pikku.wire_queue_worker: checks a wiring (a mistake is a load error at its
-- line) and registers it.
local M = {}

local fields = require "pikku.fields"

local type, tostring, ipairs, error, pcall, require = type, tostring, ipairs, error, pcall, require
local find, format = string.find, string.format
local floor = math.floor

-- Defaults of a queue worker (docs/queues.md); times in milliseconds.
M.QUEUE_DEFAULTS = { concurrency = 1, retry_attempts = 0, retry_delay = 1000, retry_backoff = "fixed",
                     timeout = 30000 }
M.MAX_MS = 2 ^ 31 - 1   -- about 24.8 days, as services.sleep
M.NAME_MAX = 255        -- bytes in a queue or schedule name (the job store's limit)

-- The cron parser and time zones live in C (pikku.jobs_c, cron.c): one owner of the syntax. Outside
-- the host (plain Lua) the expressions are not checked here.
local jobs_c
do
  local ok, m = pcall(require, "pikku.jobs_c")
  if ok and type(m) == "table" then jobs_c = m end
end

-- Raises unless name is a usable queue or schedule name: letters, digits, - _ . only, so that a
-- name never collides with pikku's own queues (named "pikku:...") and reads well in a shell.
local function check_name(name, what, level)
  if type(name) ~= "string" or name == "" then
    error(what .. ": name must be a non-empty string", level + 1)
  end
  if #name > M.NAME_MAX or find(name, "[^%w_.%-]") then
    error(format('%s: name "%s" may only hold letters, digits, "-", "_" and "." (at most %d bytes)',
      what, name, M.NAME_MAX), level + 1)
  end
end

-- Raises unless v is nil or an integer from lo to hi; returns v or the default.
local function int_field(t, key, lo, hi, default, what, level)
  local v = t[key]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= floor(v) or v < lo or v > hi then
    error(format("%s: %s must be an integer from %d to %d, got %s", what, key, lo, hi,
      type(v) == "number" and tostring(v) or type(v)), level + 1)
  end
  return v
end

local function one_of(t, key, list, default, what, level)
  local v = t[key]
  if v == nil then return default end
  for _, ok in ipairs(list) do
    if v == ok then return v end
  end
  error(format('%s: %s must be "%s", got %s', what, key, table.concat(list, '" or "'),
    type(v) == "string" and ('"' .. v .. '"') or type(v)), level + 1)
end

local function find_named(list, name)
  for _, other in ipairs(list) do
    if other.name == name then return other end
  end
end

--- scheduler(s, registry, pikku): pikku.wire_scheduler's checks; appends
--- { name, schedule, timezone, overlap, catch_up, def, place } to registry.schedules.
--- (Called from pikku.wire_scheduler: level 3 is the app's line.)
function M.scheduler(s, registry, pikku)
  local what = "pikku.wire_scheduler"
  if type(s) ~= "table" then
    error(what .. ': expected a table { name = ..., schedule = "0 9 * * *", func = ... }', 3)
  end
  check_name(s.name, what, 3)
  what = what .. ' "' .. s.name .. '"'
  fields.check(s, fields.wire_scheduler, what, 3)
  if type(s.schedule) ~= "string" or s.schedule == "" then
    error(what .. ': schedule must be a cron expression such as "0 9 * * *" or "@every 30s", got '
      .. type(s.schedule), 3)
  end
  local tz = s.timezone
  if tz == nil then tz = "UTC" end
  if type(tz) ~= "string" or tz == "" then
    error(what .. ': timezone must be an IANA zone name such as "Europe/Helsinki", got ' .. type(tz), 3)
  end
  if jobs_c and jobs_c.cron_check then
    local ok, err = jobs_c.cron_check(s.schedule, tz)
    if not ok then error(format('%s: %s', what, tostring(err)), 3) end
  end
  local overlap = one_of(s, "overlap", { "skip", "allow" }, "skip", what, 3)
  if s.catch_up ~= nil and type(s.catch_up) ~= "boolean" then
    error(what .. ": catch_up must be true or false, got " .. type(s.catch_up), 3)
  end
  if s.func == nil then error(what .. ": func is required (a pikku.func or a function)", 3) end
  local def = pikku._as_func(s.func, what .. ": func", 3)
  local here = pikku._place(3)
  local other = find_named(registry.schedules, s.name)
  if other then
    error(format('schedule "%s" is wired twice (%s and %s)', s.name, other.place, here), 3)
  end
  local list = registry.schedules
  list[#list + 1] = { name = s.name, schedule = s.schedule, timezone = tz, overlap = overlap,
                      catch_up = s.catch_up == true, def = def, place = here }
end

--- queue_worker(q, registry, pikku): pikku.wire_queue_worker's checks; appends the queue's settings
--- (defaults filled in), def, input and place to registry.queues.
function M.queue_worker(q, registry, pikku)
  local what = "pikku.wire_queue_worker"
  if type(q) ~= "table" then
    error(what .. ": expected a table { name = ..., func = ... }", 3)
  end
  check_name(q.name, what, 3)
  what = what .. ' "' .. q.name .. '"'
  fields.check(q, fields.wire_queue_worker, what, 3)
  local d = M.QUEUE_DEFAULTS
  local cfg = {
    name = q.name,
    concurrency = int_field(q, "concurrency", 1, 10000, d.concurrency, what, 3),
    retry_attempts = int_field(q, "retry_attempts", 0, 1000, d.retry_attempts, what, 3),
    retry_delay = int_field(q, "retry_delay", 0, M.MAX_MS, d.retry_delay, what, 3),
    retry_backoff = one_of(q, "retry_backoff", { "fixed", "exponential" }, d.retry_backoff, what, 3),
    timeout = int_field(q, "timeout", 1, M.MAX_MS, d.timeout, what, 3),
  }
  if q.dead_letter ~= nil then
    check_name(q.dead_letter, what .. ": dead_letter", 3)
    if q.dead_letter == q.name then
      error(what .. ": dead_letter must name another queue, not the queue itself", 3)
    end
    cfg.dead_letter = q.dead_letter
  end
  if q.func == nil then error(what .. ": func is required (a pikku.func or a function)", 3) end
  cfg.def = pikku._as_func(q.func, what .. ": func", 3)
  cfg.input = q.input
  cfg.place = pikku._place(3)
  local other = find_named(registry.queues, q.name)
  if other then
    error(format('queue "%s" is wired twice (%s and %s)', q.name, other.place, cfg.place), 3)
  end
  local list = registry.queues
  list[#list + 1] = cfg
end

return M
