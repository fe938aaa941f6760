-- Running a queue's job or a schedule's tick in this worker: wire.queue, wire.scheduled_task, and how the run ended.
--
-- The master hands a worker a job (runtime job_run) or a tick (runtime tick); the function runs in a
-- pooled coroutine of the runtime like any call, and its end is reported back: through the hub
-- (pikku.jobs_c) in a server, to pikku test's drain_queue / run_schedule in tests.
local M = {}

local core = require "pikku.core"
local errors = require "pikku.errors"
local json = require "pikku.json"
local pipeline = require "pikku.pipeline"

local type, tostring, pairs, ipairs, error, setmetatable, getmetatable, pcall, require =
  type, tostring, pairs, ipairs, error, setmetatable, getmetatable, pcall, require
local format, concat = string.format, table.concat
local json_encode, json_decode = json.encode, json.decode
local core_gen_id, core_log, core_log_error = core.gen_id, core.log, core.log_error

-- How a run ended: pikku.jobs_c's constants (the hub's PK_OUTCOME_*), or the same numbers without the host.
local OK, FAIL, DISCARD, SKIPPED = 0, 1, 2, 3
local jobs_c
do
  local ok, m = pcall(require, "pikku.jobs_c")
  if ok and type(m) == "table" then
    jobs_c = m
    OK, FAIL, DISCARD, SKIPPED = m.OK, m.FAIL, m.DISCARD, m.SKIPPED
  end
end
M.OK, M.FAIL, M.DISCARD, M.SKIPPED = OK, FAIL, DISCARD, SKIPPED
M.OUTCOME_NAMES = { [OK] = "ok", [FAIL] = "fail", [DISCARD] = "discard", [SKIPPED] = "skipped" }

-- The queue that services.scheduler:run_later fills: each job calls the named pikku.func.
M.RUN_LATER = "pikku:run-later"
M.RUN_LATER_CONCURRENCY = 16   -- per worker process (its jobs often just wait on I/O)

-- ---- state of the loaded app (M.setup) ---------------------------------------------------------

local start_call          -- runtime's start_call(entry, h, data)
local services = {}
local schedules, queues = {}, {}

--- setup(ctx, schedules, queues): ctx.start_call runs a plan's entry in a pooled coroutine (the
--- runtime's); schedules and queues are pikku.app_loader's compiled ones (name -> ...).
function M.setup(ctx, s, q)
  start_call, services = ctx.start_call, ctx.services
  schedules, queues = s or {}, q or {}
end

function M.schedules() return schedules end
function M.queues() return queues end

-- ---- ending a run early: wire.queue.fail / discard, wire.scheduled_task.skip -------------------

local Ending = {}
Ending.__index = Ending
Ending.__tostring = function(e) return M.OUTCOME_NAMES[e.outcome] .. ": " .. tostring(e.reason) end

local function ending(outcome, reason, what)
  if reason ~= nil and type(reason) ~= "string" then
    error(what .. ": the reason must be a string, got " .. type(reason), 3)
  end
  error(setmetatable({ outcome = outcome, reason = reason or what }, Ending), 0)
end

-- The message stored for an error a job raised: a pikku error's "Name: message" (with the
-- validation errors of a 422), anything else as text.
local function error_message(e)
  if errors.is(e) then
    local msg = e.name .. ": " .. tostring(e.message)
    local list = type(e.payload) == "table" and e.payload.errors
    if type(list) == "table" and list[1] then
      local parts = {}
      for i, x in ipairs(list) do
        if i > 5 then parts[#parts + 1] = "..."; break end
        parts[#parts + 1] = tostring(x.path) .. " " .. tostring(x.message)
      end
      msg = msg .. " (" .. concat(parts, "; ") .. ")"
    end
    return msg
  end
  return tostring(e)
end
M.error_message = error_message

-- ---- jobs --------------------------------------------------------------------------------------

-- The end of a job's call (the runtime's finish hands it here): outcome and payload to h._report.
local function job_finished(h, ok, res, tb)
  local outcome, payload = OK, ""
  if ok then
    if res ~= nil then
      local text, err = json_encode(res)
      if text == nil then
        outcome, payload = FAIL, "the job's result cannot be encoded as JSON: " .. tostring(err)
      else
        payload = text
      end
    end
  elseif getmetatable(res) == Ending then
    outcome, payload = res.outcome, res.reason
  else
    outcome, payload = FAIL, error_message(res)
    local where = format('queue "%s" job %s attempt %d failed: ', h._queue, h._key, h._attempt)
    if errors.is(res) and res.status < 500 then
      core_log("warn", where .. payload, h._rid)
    else
      core_log_error(h._rid, where .. tostring(tb or res))
    end
  end
  h._report(outcome, payload, res)
end

-- The runtime's time-limit sweep: the attempt waited past its time limit (the queue's timeout,
-- unless its function sets timeout_ms). It is reported failed now, as the master records an
-- attempt past its timeout (so a retry or the dead letter follows per the queue's settings, and
-- the function's late end is not reported), and logged.
local function job_over_limit(h, _, limit_ms, _, cancelled)
  local why
  if h._timeout and limit_ms == h._timeout then
    why = format("timed out after %.0f ms (the queue's timeout)", limit_ms)
  else
    why = format("waited past its time limit of %.0f ms and was stopped", limit_ms)
  end
  local what = format('queue "%s" job %s attempt %d', h._queue, h._key, h._attempt)
  if h._func then what = what .. format(' (function "%s")', h._func) end
  core_log("error", format("%s: %s%s", what, why, cancelled), h._rid)
  h._report(FAIL, why)
end

-- wire.queue of one attempt.
local function queue_wire(h, progress)
  local q = { name = h._queue, job_id = h._key, attempt = h._attempt }
  function q.update_progress(a, b)
    local p = a
    if a == q then p = b end
    local text, err = json_encode(p)
    if text == nil then
      error("wire.queue.update_progress: the progress cannot be encoded as JSON: " .. tostring(err), 2)
    end
    progress(text)
    return true
  end
  function q.fail(a, b)
    if a == q then a = b end
    ending(FAIL, a, "wire.queue.fail")
  end
  function q.discard(a, b)
    if a == q then a = b end
    ending(DISCARD, a, "wire.queue.discard")
  end
  return q
end

-- The run-later queue's function: the pikku.func named in the job, with the job's data.
local function run_later_entry(_, data)
  return pipeline.services_invoke(data.func, data.data)
end

--- start_job(job, report, progress): runs one attempt of a job in a coroutine of the runtime.
--- job = { queue, key, attempt, data (JSON text) }; report(outcome, payload, raw) is called once
--- when it ends; progress(json_text) for wire.queue.update_progress.
function M.start_job(job, report, progress)
  local h = { _on_finish = job_finished, _on_limit = job_over_limit, _report = report, _queue = job.queue,
              _key = job.key, _attempt = job.attempt, _timeout = job.timeout, _rid = core_gen_id() }
  local entry
  if job.queue == M.RUN_LATER then
    entry = run_later_entry
  else
    local q = queues[job.queue]
    if q == nil or q.plan == nil then
      return report(FAIL, format('no queue worker "%s" in this worker\'s code', job.queue))
    end
    entry = q.plan.entry
  end
  local data, err = json_decode(job.data)
  if data == nil and err then return report(FAIL, "the job's data is not JSON: " .. tostring(err)) end
  if job.queue == M.RUN_LATER and type(data) == "table" and type(data.func) == "string" then h._func = data.func end
  local w = pipeline.new_wire(nil, nil, services)
  w.queue = queue_wire(h, progress)
  h._wire = w
  start_call(entry, h, data)
end

--- job_run(job, attempt, queue, key, data, timeout_ms): the runtime's entry point for a job the
--- master leased to this worker; the end goes back to the master (pikku.jobs_c.result).
function M.job_run(job, attempt, queue, key, data, timeout)
  local function report(outcome, payload)
    local ok, err = jobs_c.result(job, attempt, outcome, payload)
    if not ok then
      core_log("error", format('queue "%s" job %s: cannot report the end: %s', queue, key, tostring(err)))
    end
  end
  M.start_job({ queue = queue, key = key, attempt = attempt, data = data, timeout = timeout }, report,
    function(text) jobs_c.progress(job, attempt, text) end)
end

-- ---- schedules ---------------------------------------------------------------------------------

-- The runtime's time-limit sweep: the tick's function waited past its time limit. Reported failed
-- now (so an overlap = "skip" schedule runs again at its next tick) and logged.
local function tick_over_limit(h, _, limit_ms, _, cancelled)
  local why = format("waited past its time limit of %.0f ms and was stopped", limit_ms)
  core_log("error", format('schedule "%s" run at %s: %s%s', h._schedule, h._iso, why, cancelled), h._rid)
  h._report(FAIL, why)
end

local function tick_finished(h, ok, res, tb)
  if ok then return h._report(OK, "", res) end
  if getmetatable(res) == Ending then return h._report(res.outcome, res.reason) end
  local msg = error_message(res)
  core_log_error(h._rid, format('schedule "%s" run at %s failed: %s', h._schedule, h._iso, tostring(tb or res)))
  h._report(FAIL, msg, res)
end

local function iso(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) .. format(".%03dZ", ms % 1000)
end
M.iso = iso

--- start_tick(name, execution_ms, catch_up, report): runs the schedule's function once with
--- wire.scheduled_task; report(outcome, message, value) when it ends (value: the function's result,
--- or the error it raised).
function M.start_tick(name, execution_ms, catch_up, report)
  local s = schedules[name]
  if s == nil then return report(FAIL, format('no schedule "%s" in this worker\'s code', name)) end
  local h = { _on_finish = tick_finished, _on_limit = tick_over_limit, _report = report, _schedule = name,
              _iso = iso(execution_ms), _rid = core_gen_id() }
  local task = { name = name, schedule = s.schedule, timezone = s.timezone, execution_time = execution_ms,
                 catch_up = catch_up and true or false }
  function task.skip(a, b)
    if a == task then a = b end
    ending(SKIPPED, a, "wire.scheduled_task.skip")
  end
  local w = pipeline.new_wire(nil, nil, services)
  w.scheduled_task = task
  h._wire = w
  start_call(s.plan.entry, h, {})
end

--- tick(name, execution_ms, catch_up): the runtime's entry point for a tick the master gave this
--- worker; the end goes back to the master (pikku.jobs_c.tick_done).
function M.tick(name, execution_ms, catch_up)
  M.start_tick(name, execution_ms, catch_up, function(outcome, message)
    jobs_c.tick_done(name, execution_ms, outcome, message)
  end)
end

-- ---- the settings the master reads -------------------------------------------------------------

--- config() -> { schedules = { {name, schedule, timezone, overlap, catch_up}, ... }, queues = {
--- {name, concurrency, retry_attempts, retry_delay, retry_backoff, timeout, dead_letter?}, ... } }:
--- plain values, for the master (jobs_master.c) and pikku schedules / queues. The run-later queue
--- comes last; a dead-letter queue without a worker is listed with worker = false.
function M.config()
  local out = { schedules = {}, queues = {} }
  local names = {}
  for name in pairs(schedules) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local s = schedules[name]
    out.schedules[#out.schedules + 1] = { name = name, schedule = s.schedule, timezone = s.timezone,
      overlap = s.overlap, catch_up = s.catch_up }
  end
  names = {}
  for name in pairs(queues) do names[#names + 1] = name end
  table.sort(names)
  local d = require("pikku.wire_jobs").QUEUE_DEFAULTS
  for _, name in ipairs(names) do
    local q = queues[name]
    local worker = q.plan ~= nil
    out.queues[#out.queues + 1] = { name = name, worker = worker,
      concurrency = q.concurrency or d.concurrency, retry_attempts = q.retry_attempts or d.retry_attempts,
      retry_delay = q.retry_delay or d.retry_delay, retry_backoff = q.retry_backoff or d.retry_backoff,
      timeout = q.timeout or d.timeout, dead_letter = q.dead_letter }
  end
  out.queues[#out.queues + 1] = { name = M.RUN_LATER, worker = true, concurrency = M.RUN_LATER_CONCURRENCY,
    retry_attempts = 0, retry_delay = d.retry_delay, retry_backoff = d.retry_backoff, timeout = d.timeout }
  return out
end

return M
