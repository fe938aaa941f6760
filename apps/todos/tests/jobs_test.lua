-- The todos app's queue and schedules without the clock: reminders (todo-reminders), the daily
-- summary and the weekly cleanup, on the app's own store (a temporary file under pikku test).
-- luacheck: globals describe it before_each after_each expect t
local reminders = require "functions.reminders"

local function create(body)
  local res = t.request { method = "POST", path = "/todos", body = body }
  expect(res.status).to_equal(200)
  return res.json.todo
end

describe("todo-reminders", function()
  before_each(function() t.drain_queue("todo-reminders") end)   -- what earlier tests left

  it("a todo with a dueDate gets one reminder job, run at that time", function()
    local todo = create { title = "Pay the rent", dueDate = "2030-01-01T09:00:00Z" }
    local counts = t.job_counts("todo-reminders")
    expect(counts.delayed).to_equal(1)
    local ran = t.drain_queue("todo-reminders")   -- the test clock jumps to 2030
    expect(#ran).to_equal(1)
    expect(ran[1].id).to_equal("reminder-" .. todo.id)
    expect(ran[1].status).to_equal("completed")
    expect(ran[1].result).to_equal({ reminded = todo.id })
    local list = t.request { path = "/reminders" }.json.reminders
    expect(list[1].todoId).to_equal(todo.id)
    expect(list[1].title).to_equal("Pay the rent")
    expect(list[1].dueDate).to_equal("2030-01-01T09:00:00Z")
  end)

  it("a todo without a dueDate gets none", function()
    create { title = "Someday" }
    expect(#t.drain_queue("todo-reminders")).to_equal(0)
  end)

  it("a todo completed or deleted before its dueDate is not reminded", function()
    local done = create { title = "Done early", dueDate = "2031-05-01" }
    local gone = create { title = "Dropped", dueDate = "2031-05-02" }
    t.request { method = "POST", path = "/todos/" .. done.id .. "/complete" }
    t.request { method = "DELETE", path = "/todos/" .. gone.id }
    local ran = t.drain_queue("todo-reminders")
    expect(#ran).to_equal(2)
    expect(ran[1].result).to_equal({ skipped = "completed" })
    expect(ran[2].result).to_equal({ skipped = "deleted" })
    for _, r in ipairs(t.request { path = "/reminders" }.json.reminders) do
      expect(r.todoId ~= done.id and r.todoId ~= gone.id).to_be(true)
    end
  end)

  it("a job that runs twice (at-least-once) records one reminder", function()
    local todo = create { title = "Twice", dueDate = "2020-01-01" }   -- past: due at once
    expect(#t.drain_queue("todo-reminders")).to_equal(1)
    local before = #t.request { path = "/reminders" }.json.reminders
    local again = t.call("sendReminder", { todoId = todo.id })   -- what a second run does
    expect(again).to_equal({ reminded = todo.id })
    expect(#t.request { path = "/reminders" }.json.reminders).to_equal(before)
  end)

  it("reads ISO 8601 due dates", function()
    expect(reminders.due_ms("1970-01-02")).to_equal(86400000)
    expect(reminders.due_ms("2026-03-29T03:00:00+02:00")).to_equal(1774746000000)
    expect(reminders.due_ms("2026-03-29T01:00Z")).to_equal(1774746000000)
    expect(reminders.due_ms("2026-03-29 01:00:00.5")).to_equal(1774746000500)
    expect(reminders.due_ms("tomorrow")).to_be_nil()
    expect(reminders.due_ms("2026-13-01")).to_be_nil()
  end)
end)

describe("schedules", function()
  it("daily-summary counts each user's open, overdue and completed todos", function()
    create { title = "Overdue one", dueDate = "2000-01-01" }
    local r = t.run_schedule("daily-summary", 1796000000000)
    expect(r.status).to_equal("ok")
    local user1
    for _, u in ipairs(r.result.users) do
      if u.userId == "user1" then user1 = u end
    end
    expect(user1.overdue >= 1).to_be(true)
    expect(user1.open >= user1.overdue).to_be(true)
    expect(user1.completed >= 1).to_be(true)   -- the seed's todo2
    expect(r.result.at).to_equal("2026-11-30T00:53:20.000Z")
  end)

  -- Unix ms of an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SS.mmmZ" (days from the civil date)
  local function iso_ms(s)
    local y, mo, d, h, mi, sec, ms = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z$")
    y, mo = tonumber(y), tonumber(mo)
    if mo <= 2 then y = y - 1 end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local doy = math.floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + tonumber(d) - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    local days = era * 146097 + doe - 719468
    return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(sec) * 1000 + tonumber(ms)
  end

  it("weekly-cleanup deletes completed todos older than a week, and only those", function()
    local old = create { title = "Old and done" }
    local recent = create { title = "Done today" }
    local done_old = t.request { method = "POST", path = "/todos/" .. old.id .. "/complete" }.json.todo
    local done_recent
    for _ = 1, 200 do   -- until the two completions have different times (milliseconds)
      require("pikku").sleep(2)
      done_recent = t.request { method = "POST", path = "/todos/" .. recent.id .. "/complete" }.json.todo
      if done_recent.updatedAt > done_old.updatedAt then break end
    end
    expect(done_old.updatedAt < done_recent.updatedAt).to_be(true)
    -- the tick exactly a week after the recent completion: the old one is past the week, it is not
    local r = t.run_schedule("weekly-cleanup", iso_ms(done_recent.updatedAt) + 7 * 86400000)
    expect(r.status).to_equal("ok")
    expect(r.result.deleted >= 1).to_be(true)
    expect(t.request { path = "/todos/" .. old.id }.json.todo).to_equal(require("pikku.json").null)
    expect(t.request { path = "/todos/" .. recent.id }.json.todo.id).to_equal(recent.id)
  end)
end)
