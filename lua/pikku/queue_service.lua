-- services.queue (add, get_job) and services.scheduler (run_later), through the master's job store
-- (or pikku test's in-process one).
--
-- In a server a worker sends the job to the master (pikku.jobs_c) and the calling coroutine waits
-- until the master has committed it; under `pikku test` (no master) the same calls go to an
-- in-memory store in this process (pikku.job_store_c), where t.drain_queue runs them.
local M = {}

local core = require "pikku.core"
local errors = require "pikku.errors"
local fields = require "pikku.fields"
local json = require "pikku.json"
local pipeline = require "pikku.pipeline"
local jobs = require "pikku.jobs"

local type, tostring, error, require, pcall = type, tostring, error, require, pcall
local find, format = string.find, string.format
local floor = math.floor
local json_encode, json_decode = json.encode, json.decode

M.PRIORITY_MAX = 2097152   -- 2^21 (the job store's limit; lower runs first, 0 is the default)
M.KEY_MAX = 1024           -- bytes in a job_id
local MAX_MS = 10 * 366 * 86400 * 1000   -- the longest delay: about ten years

-- ---- set by pikku.runtime ------------------------------------------------------------------------

-- new_token(), suspend(token) -> the values of resume(token, ...), in_call()
local rt = {}
function M.setup(ctx) rt = ctx end

-- ---- the two backends ----------------------------------------------------------------------------

local store_c   -- pikku test's in-process store, opened on first use
local function test_store()
  if store_c == nil then store_c = require "pikku.job_store_c" end
  return store_c
end
M.test_store = test_store

local function max_attempts(name)
  local q = jobs.queues()[name]
  return ((q and q.retry_attempts) or 0) + 1
end

-- Adds the job; returns its id, or raises (a store failure is a 503 ServiceUnavailable).
local function add(name, key, text, priority, delay, what)
  local id, existed
  if core.test then
    id, existed = test_store().add(name, key, text, priority, delay, max_attempts(name))
  else
    if not rt.in_call() then
      error(what .. ": called outside a function call (at load time?): adding a job waits for the master", 3)
    end
    local token = rt.new_token()
    local ok, err = require("pikku.jobs_c").add(name, key, text, priority, delay, token)
    if not ok then
      id, existed = nil, err
    else
      id, existed = rt.suspend(token)
    end
  end
  if id == nil then
    error(errors.ServiceUnavailable(format('%s: the job was not stored: %s', what, tostring(existed))), 0)
  end
  return id
end

local function get(name, key)
  local text
  if core.test then
    text = test_store().get(name, key)
  else
    if not rt.in_call() then error("services.queue:get_job: called outside a function call", 3) end
    local token = rt.new_token()
    local ok, err = require("pikku.jobs_c").get(name, key, token)
    if not ok then error(errors.ServiceUnavailable("services.queue:get_job: " .. tostring(err)), 0) end
    local e
    text, e = rt.suspend(token)
    if text == nil and e then error(errors.ServiceUnavailable("services.queue:get_job: " .. tostring(e)), 0) end
  end
  if text == nil then return nil end
  return (json_decode(text))
end

local function counts(name)
  if core.test then return test_store().counts(name) end
  if not rt.in_call() then error("services.queue:get_counts: called outside a function call", 3) end
  local token = rt.new_token()
  local ok, err = require("pikku.jobs_c").counts(name, token)
  if not ok then error(errors.ServiceUnavailable("services.queue:get_counts: " .. tostring(err)), 0) end
  local text, e = rt.suspend(token)
  if text == nil then error(errors.ServiceUnavailable("services.queue:get_counts: " .. tostring(e)), 0) end
  return (json_decode(text))
end

-- ---- checks ----------------------------------------------------------------------------------------

local function check_options(opts, what)
  if opts == nil then return 0, 0, nil end
  if type(opts) ~= "table" then error(what .. ": the options must be a table { delay?, priority?, job_id? }", 3) end
  fields.check(opts, fields.queue_add, what .. " options", 3)
  local delay, priority, key = opts.delay or 0, opts.priority or 0, opts.job_id
  if type(delay) ~= "number" or delay ~= delay or delay < 0 or delay > MAX_MS then
    error(format("%s: delay must be a number of milliseconds from 0 to %d, got %s", what, MAX_MS, tostring(delay)), 3)
  end
  if type(priority) ~= "number" or priority ~= floor(priority) or priority < 0 or priority > M.PRIORITY_MAX then
    error(format("%s: priority must be an integer from 0 (the default, first) to %d, got %s", what, M.PRIORITY_MAX,
      tostring(priority)), 3)
  end
  if key ~= nil then
    if type(key) ~= "string" or key == "" or #key > M.KEY_MAX then
      error(format("%s: job_id must be a non-empty string of at most %d bytes, got %s", what, M.KEY_MAX,
        type(key) == "string" and '""' or type(key)), 3)
    end
    if find(key, "^%d+$") then
      error(format('%s: job_id "%s" is all digits, as the ids pikku makes up are: give it a prefix ("order-%s")',
        what, key, key), 3)
    end
  end
  return floor(delay), priority, key
end

local function encode(data, what)
  if data == nil then data = {} end
  local text, err = json_encode(data)
  if text == nil then error(what .. ": the data cannot be encoded as JSON: " .. tostring(err), 3) end
  return text
end

-- ---- the services ----------------------------------------------------------------------------------

--- new_queue() -> services.queue. Methods work with ":" and ".".
function M.new_queue()
  local svc = {}

  --- queue:add(name, data, { delay?, priority?, job_id? }) -> the job's id (a string). Returns once
  --- the job is stored (committed). The same job_id twice is one job (its id is returned again).
  --- data is checked against the queue's input schema first: a bad job is a 422, never stored.
  function svc.add(a, b, c, d)
    local name, data, opts = a, b, c
    if a == svc then name, data, opts = b, c, d end
    local what = "services.queue:add"
    if type(name) ~= "string" then error(what .. ": the queue name must be a string, got " .. type(name), 2) end
    local q = jobs.queues()[name]
    if q == nil then
      error(errors.NotFound(format('%s: no queue "%s" (wire it with pikku.wire_queue_worker { name = "%s", ... })',
        what, name, name)), 2)
    end
    local delay, priority, key = check_options(opts, what)
    if data == nil then data = {} end
    if q.vadd then
      local ok, errs, count = q.vadd:validate(data, true)
      if not ok then error(errors.validation_failed(errs, count), 2) end
    end
    return add(name, key, encode(data, what), priority, delay, what)
  end

  --- queue:get_job(name, id) -> { id, status, data, result, attempts, error, progress } or nil.
  function svc.get_job(a, b, c)
    local name, id = a, b
    if a == svc then name, id = b, c end
    if type(name) ~= "string" then error("services.queue:get_job: the queue name must be a string", 2) end
    if type(id) == "number" then id = format("%d", id) end
    if type(id) ~= "string" or id == "" then error("services.queue:get_job: the job id must be a string", 2) end
    return get(name, id)
  end

  --- queue:get_counts(name) -> { waiting, delayed, active, completed, failed } (a delayed job
  --- already due counts as waiting).
  function svc.get_counts(a, b)
    local name = a
    if a == svc then name = b end
    if type(name) ~= "string" then error("services.queue:get_counts: the queue name must be a string", 2) end
    return counts(name)
  end

  return svc
end

--- new_scheduler() -> services.scheduler.
function M.new_scheduler()
  local svc = {}

  --- scheduler:run_later(delay_ms, function_name, data) -> job id: calls the named pikku.func with
  --- data after delay_ms, as a job of the queue "pikku:run-later" (durable; no retries).
  function svc.run_later(a, b, c, d)
    local delay, name, data = a, b, c
    if a == svc then delay, name, data = b, c, d end
    local what = "services.scheduler:run_later"
    if type(delay) ~= "number" or delay ~= delay or delay < 0 or delay > MAX_MS then
      error(format("%s: delay must be a number of milliseconds from 0 to %d, got %s", what, MAX_MS, tostring(delay)), 2)
    end
    if type(name) ~= "string" then error(what .. ": the function name must be a string, got " .. type(name), 2) end
    local ok, plan_or_err = pcall(pipeline.call_plan, name)
    if not ok or plan_or_err == nil then
      error(errors.NotFound(format('%s: no function named "%s" (give a pikku.func a name)', what, name)), 2)
    end
    return add(jobs.RUN_LATER, nil, encode({ func = name, data = data }, what), 0, floor(delay), what)
  end

  return svc
end

return M
