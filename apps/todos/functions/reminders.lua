-- The todos app's background work: a reminder job per todo with a dueDate (queue todo-reminders),
-- the daily summary and the weekly cleanup (schedules daily-summary and weekly-cleanup).
local pikku = require "pikku"

local tonumber, tostring, floor = tonumber, tostring, math.floor
local match, format = string.match, string.format

local M = {}

M.QUEUE = "todo-reminders"
M.CLEANUP_DAYS = 7

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- due_ms("2026-12-24") / ("2026-12-24T18:00:00+02:00") -> Unix ms, or nil when it is not an ISO 8601
--- date or date-time (a date alone is midnight UTC; a time without an offset is UTC).
function M.due_ms(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
  local h, mi, sec, off = 0, 0, 0, 0
  if rest ~= "" then
    local hh, mm, tail = match(rest, "^[Tt ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, tail2 = match(tail, "^:(%d%d%.?%d*)(.*)$")
    if ss then sec, tail = tonumber(ss), tail2 end
    if tail == "Z" or tail == "z" or tail == "" then
      off = 0
    else
      local sign, oh, om = match(tail, "^([+-])(%d%d):?(%d%d)$")
      if not sign then return nil end
      off = (tonumber(oh) * 60 + tonumber(om)) * (sign == "-" and -1 or 1)
    end
  end
  return floor(((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60000 + sec * 1000)
end

--- remind_later(services, todo): adds the todo's reminder job, due at its dueDate (at once when
--- that has passed). job_id "reminder-<todo id>": one job per todo. A todo without a (readable)
--- dueDate gets none. Returns the job id or nil. The todo is saved already: a store that cannot
--- take the job is logged, not raised.
function M.remind_later(services, todo)
  local due = M.due_ms(todo.dueDate)
  if not due then return nil end
  local delay = due - os.time() * 1000
  if delay < 0 then delay = 0 end
  local ok, id = pcall(services.queue.add, services.queue, M.QUEUE,
    { todoId = todo.id, userId = todo.userId, title = todo.title, dueDate = todo.dueDate },
    { job_id = "reminder-" .. todo.id, delay = delay })
  if not ok then
    services.logger.warn("no reminder for todo %s: %s", tostring(todo.id),
      type(id) == "table" and tostring(id.message) or tostring(id))
    return nil
  end
  return id
end

--- The todo-reminders job: records a reminder for the todo unless it is gone or done meanwhile.
M.send_reminder = pikku.func {
  name = "sendReminder",
  title = "A todo's reminder, at its dueDate",
  auth = false,
  input = {
    type = "object",
    properties = { todoId = { type = "string" }, userId = { type = "string" }, title = { type = "string" },
                   dueDate = { type = "string" } },
    required = { "todoId" },
  },
  func = function(services, data)
    local todo = services.store:get(data.todoId)
    if not todo then return { skipped = "deleted" } end
    if todo.completed then return { skipped = "completed" } end
    local added = services.store:add_reminder(todo)
    services.logger.info("reminder for todo %s (%s), due %s%s", todo.id, todo.title, tostring(todo.dueDate),
      added and "" or " (already recorded: the job ran again)")
    pcall(services.eventhub.publish, services.eventhub, "todo-reminder", { topic = "todo-reminder", data = todo })
    return { reminded = todo.id }
  end,
}

local function iso_of(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", floor(ms / 1000)) .. format(".%03dZ", ms % 1000)
end

--- daily-summary: per user, the open, overdue and completed todos (logged; returned for tests).
M.daily_summary = pikku.func {
  name = "dailySummary",
  auth = false,
  func = function(services, _, wire)
    local at = wire.scheduled_task and wire.scheduled_task.execution_time or os.time() * 1000
    local rows = services.store:summary(iso_of(at))
    for _, r in ipairs(rows) do
      services.logger.info("daily summary for %s: %d open, %d overdue, %d completed", r.userId, r.open, r.overdue,
        r.completed)
    end
    return { at = iso_of(at), users = rows }
  end,
}

--- weekly-cleanup: deletes the completed todos not changed for a week.
M.weekly_cleanup = pikku.func {
  name = "weeklyCleanup",
  auth = false,
  func = function(services, _, wire)
    -- a week before the tick this run is for (the same on whichever worker runs it)
    local at = wire.scheduled_task and wire.scheduled_task.execution_time or os.time() * 1000
    local n = services.store:delete_completed_before(iso_of(at - M.CLEANUP_DAYS * 86400000))
    services.logger.info("weekly cleanup: %d completed todo(s) older than %d days deleted", n, M.CLEANUP_DAYS)
    return { deleted = n }
  end,
}

return M
