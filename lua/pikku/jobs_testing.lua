-- pikku test's helpers for jobs and schedules: t.drain_queue runs queued jobs now, t.run_schedule runs a schedule once.
--
-- Under `pikku test` services.queue adds to an in-memory store in this process (pikku.job_store_c);
-- nothing runs those jobs until a test drains the queue, so a test sees every job its calls added
-- and decides when they run.
local M = {}

local core = require "pikku.core"
local runtime = require "pikku.runtime"
local json = require "pikku.json"
local jobs = require "pikku.jobs"
local queue_service = require "pikku.queue_service"

local type, tostring, pairs, ipairs, error = type, tostring, pairs, ipairs, error
local format = string.format
local json_decode = json.decode

local MAX_RUNS = 100000   -- a drain that runs more attempts than this is a loop: it stops with an error

-- Waits (in the test's coroutine) until done() or timeout_ms; start(wake) starts the work and is
-- given the function to call when it ends.
local function wait_for(start, timeout_ms)
  local waker, ended = nil, false
  start(function()
    ended = true
    if waker then core.timer(0, waker) end
  end)
  if not ended then
    runtime._wait(function(token)
      waker = token
      if timeout_ms then core.timer(timeout_ms, token) end
    end)
  end
  return ended
end

local function settings(name)
  local q = jobs.queues()[name]
  if name == jobs.RUN_LATER then q = { name = name, timeout = 30000, retry_delay = 0 } end
  return q
end

-- Runs one leased attempt; returns the outcome record of t.drain_queue.
local function run_attempt(store, job, q)
  local outcome, payload
  local timeout = q.timeout or require("pikku.wire_jobs").QUEUE_DEFAULTS.timeout
  job.timeout = timeout   -- the attempt's time limit, as the master hands it
  local ended = wait_for(function(wake)
    jobs.start_job(job, function(o, p)
      outcome, payload = o, p
      wake()
    end, function(text) store.progress(job.id, text) end)
  end, timeout)
  if not ended then
    outcome, payload = jobs.FAIL, format("timed out after %d ms (the queue's timeout)", timeout)
  end
  local status = store.finish(job.id, job.attempt, outcome, payload, q)
  local rec = { queue = job.queue, id = job.key, attempt = job.attempt, status = status,
                outcome = jobs.OUTCOME_NAMES[outcome] }
  if outcome == jobs.OK then
    if payload ~= "" then rec.result = json_decode(payload) end
  else
    rec.error = payload
  end
  return rec
end

--- t.drain_queue(name?) -> a list of { queue, id, attempt, outcome ("ok" | "fail" | "discard"),
--- status ("completed" | "retry" | "failed" | "dead_letter"), result?, error? }, one per attempt
--- run, in order. Runs every job of the queue (every queue with a worker, and run_later's, when
--- no name is given), retries included, until none is left to run: jobs delayed into the future
--- and retries waiting out their back-off run too, the test clock jumping to their time. A job
--- moved to a dead-letter queue runs there only if that queue is drained too.
function M.drain_queue(name)
  local store = queue_service.test_store()
  local names = {}
  if name ~= nil then
    if type(name) ~= "string" then error("t.drain_queue(name?): name must be a string", 2) end
    local q = settings(name)
    if q == nil then error(format('t.drain_queue: no queue "%s" in the app', name), 2) end
    if q.dead_letter_of then
      error(format('t.drain_queue: no worker runs queue "%s" (the dead-letter queue of "%s"); read its jobs with'
        .. " services.queue:get_job or t.job_counts", name, q.dead_letter_of), 2)
    end
    names[1] = name
  else
    for n, q in pairs(jobs.queues()) do
      if q.plan then names[#names + 1] = n end
    end
    table.sort(names)
    names[#names + 1] = jobs.RUN_LATER
  end
  local out = {}
  while true do
    for _, n in ipairs(names) do
      local q = settings(n)
      while true do
        local job = store.lease(n, (q.timeout or 30000) + 5000)
        if job == nil then break end
        out[#out + 1] = run_attempt(store, job, q)
        if #out > MAX_RUNS then
          error(format("t.drain_queue: over %d attempts: a job that adds itself again?", MAX_RUNS), 2)
        end
      end
    end
    local due
    for _, n in ipairs(names) do
      local t = store.next_due(n)
      if t and (due == nil or t < due) then due = t end
    end
    if due == nil then break end
    store.advance(due)
  end
  return out
end

--- t.run_schedule(name, execution_ms?) -> { status = "ok" | "skipped" | "failed", result?, reason?,
--- error? }: runs the schedule's function once now, as a tick would (wire.scheduled_task with this
--- execution_time, default the test clock's now). result: what the function returned; reason:
--- skip's reason or the error's message; error: the value raised.
function M.run_schedule(name, execution_ms)
  local s = jobs.schedules()[name]
  if s == nil then error(format('t.run_schedule: no schedule "%s" in the app', tostring(name)), 2) end
  local ms = execution_ms or queue_service.test_store().now()
  local outcome, message, raw
  wait_for(function(wake)
    jobs.start_tick(name, ms, false, function(o, m, r)
      outcome, message, raw = o, m, r
      wake()
    end)
  end)
  local rec = { status = outcome == jobs.OK and "ok" or outcome == jobs.SKIPPED and "skipped" or "failed" }
  if outcome == jobs.OK then rec.result = raw else rec.reason, rec.error = message, raw end
  return rec
end

--- t.job_counts(name) -> { waiting, delayed, active, completed, failed } of the in-process store.
function M.job_counts(name)
  return queue_service.test_store().counts(name)
end

return M
