-- `pikku test APP_DIR`: runs APP_DIR/tests/*_test.lua (describe/it/expect) against the loaded app, no socket.
--
-- The C command loads the app as a worker would, calls start(app_dir, stop) (which collects the
-- tests and runs them one after the other, each in a coroutine of the runtime so it may sleep and
-- make in-process requests, each stopped after its timeout), runs the event loop until stop() is
-- called or no timer is left, then calls finish(), which prints the failures and
-- "N passed, N failed" and returns the number failed.
local M = {}

local runtime = require "pikku.runtime"
local core = require "pikku.core"
local errors = require "pikku.errors"
local json_null = require("pikku.json").null

local type, tostring, pairs, ipairs, error, pcall, xpcall, setmetatable, setfenv, loadfile =
  type, tostring, pairs, ipairs, error, pcall, xpcall, setmetatable, setfenv, loadfile
local format, find, rep, concat, sort = string.format, string.find, string.rep, table.concat, table.sort
local traceback = debug.traceback

-- ---- state of one run --------------------------------------------------------------------------

local root, current
local tests, failures
local passed, failed
local finished, started
local stop_loop
local filter, filtered_out   -- pikku test --filter PATTERN, and how many tests it left out

-- The C side keeps the running test's name and the counts, to report a crash (a segfault in
-- native code kills the process: core/src/crash.c prints them).
local progress = require("pikku.guard_c").test_progress

-- A test that has not finished after this many ms fails (it(name, fn, { timeout = ms }) per test).
local DEFAULT_TIMEOUT_MS = tonumber(os.getenv("PIKKU_TEST_TIMEOUT_MS")) or 10000

local function reset()
  root = { name = nil, parent = nil, before = {}, after = {} }
  current = root
  tests, failures = {}, {}
  passed, failed = 0, 0
  finished, started = false, false
  filter, filtered_out = nil, 0
end
reset()

local function out(s)
  io.stdout:write(s, "\n")
  io.stdout:flush()
end

-- ---- showing values in messages ----------------------------------------------------------------

local function show(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == "string" then return format("%q", v) end
  if v == json_null then return "null" end
  if t ~= "table" then return tostring(v) end
  if errors.is(v) then return "error " .. tostring(v) end
  if depth > 3 then return "{...}" end
  local keys, n = {}, #v
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1) end
  for _, k in ipairs(keys) do
    local ks = type(k) == "string" and find(k, "^[%a_][%w_]*$") and k or ("[" .. show(k, depth + 1) .. "]")
    parts[#parts + 1] = ks .. " = " .. show(v[k], depth + 1)
  end
  return "{ " .. concat(parts, ", ") .. " }"
end
M.show = show

local deep_equal = require("pikku.json").equal
local json_decode = require("pikku.json").decode
M.deep_equal = deep_equal

-- ---- errors ------------------------------------------------------------------------------------

-- name and status of anything raised: a pikku error's own, else InternalServerError / 500
local function error_info(e)
  if errors.is(e) then return e.name, e.status end
  return "InternalServerError", 500
end

local function matches_error(e, want)
  local name, status = error_info(e)
  if type(want) == "number" then return status == want end
  return name == want
end

-- Calls fn; raises (at the test's line) unless it raised an error with this name or status.
local function expect_error(fn, want, level)
  if type(fn) ~= "function" then error("expect_error: the first argument must be a function", level) end
  local ok, e = pcall(fn)
  if ok then
    error(format("expected the call to fail with %s, but it succeeded", tostring(want)), level)
  end
  if want ~= nil and not matches_error(e, want) then
    local name, status = error_info(e)
    error(format("expected the call to fail with %s, but it failed with %s (%d): %s",
      tostring(want), name, status, errors.is(e) and tostring(e.message) or tostring(e)), level)
  end
  return e
end

-- ---- assertions --------------------------------------------------------------------------------

--- expect(v).to_equal(x) (deep), .to_be(x) (==), .to_be_truthy(), .to_be_falsy(), .to_be_nil(),
--- .to_contain(x) (substring or list element), .to_fail_with(name_or_status) (v is a function;
--- returns the error). Both expect(v).m(x) and expect(v):m(x) work.
function M.expect(v)
  local e = {}
  local function method(f)
    return function(a, ...)
      local r   -- not a tail call: error levels count this frame
      if a == e then r = f(...) else r = f(a, ...) end
      return r
    end
  end
  e.to_equal = method(function(x)
    if not deep_equal(v, x) then error(format("expected %s\n  to equal %s", show(v), show(x)), 3) end
  end)
  e.to_be = method(function(x)
    if v ~= x then error(format("expected %s to be %s", show(v), show(x)), 3) end
  end)
  e.to_be_truthy = method(function()
    if not v then error(format("expected %s to be truthy", show(v)), 3) end
  end)
  e.to_be_falsy = method(function()
    if v then error(format("expected %s to be falsy", show(v)), 3) end
  end)
  e.to_be_nil = method(function()
    if v ~= nil then error(format("expected %s to be nil", show(v)), 3) end
  end)
  e.to_contain = method(function(x)
    if type(v) == "string" and type(x) == "string" then
      if find(v, x, 1, true) then return end
    elseif type(v) == "table" then
      for _, item in ipairs(v) do
        if deep_equal(item, x) then return end
      end
    end
    error(format("expected %s to contain %s", show(v), show(x)), 3)
  end)
  e.to_fail_with = method(function(want)
    local err = expect_error(v, want, 4)
    return err
  end)
  return e
end

-- ---- helpers for calling the app ---------------------------------------------------------------

--- t.call(func_def_or_name, data, { session = ..., services = mocks }) -> result, or raises the
--- call's error. The whole pipeline runs: validation, auth, the function's middleware,
--- permissions, per-call services, output validation.
function M.call(target, data, opts)
  return runtime.invoke(target, data, opts)
end

--- t.expect_error(fn, "NotFound" or 404) -> the error fn raised (fails the test otherwise)
function M.expect_error(fn, want)
  return expect_error(fn, want, 3)
end

--- t.request { method, path, headers, body, session } -> { status, headers, body, json, cookies }
--- In-process HTTP through the app's routes (no socket). body may be a table (sent as JSON);
--- session sets wire.session directly. json is the decoded body when it is JSON.
function M.request(req)
  local res = runtime.request(req)
  local ct = res.headers["content-type"]
  if res.body and ct and find(ct, "json", 1, true) then
    res.json = json_decode(res.body)
  end
  return res
end

--- t.channel { path, headers?, session? } (or t.channel(path)) -> an in-process WebSocket
--- connection to the channel wired at path: the upgrade's session (cookie, bearer, API key from
--- headers, or session given directly), on_connect, routing, replies, pub/sub, on_disconnect.
--- conn:send(msg) (a table is sent as JSON), conn:send_binary(bytes), conn:receive(timeout_ms?)
--- -> the next message (decoded JSON; a string when it is not JSON; { binary = bytes }) or nil,
--- conn:call(msg) (send, then receive), conn:close(code?); conn.messages (all received),
--- conn.closed ({ code, reason } once closed), conn.id.
function M.channel(req)
  return runtime.channel(req)
end

--- t.client() -> a client that keeps cookies between its requests, as a browser would:
--- client:request(req) is t.request(req) with the cookies set so far sent in a Cookie header;
--- Set-Cookie answers store a cookie, or remove it (Max-Age=0, an Expires in the past, an empty
--- value). client.cookies is the jar (name -> value).
function M.client()
  local client = { cookies = {} }
  function client.request(self, req)
    local jar, sent = self.cookies, {}
    for name, value in pairs(jar) do sent[#sent + 1] = name .. "=" .. value end
    sort(sent)
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[k] = v end
    if #sent > 0 then
      local own = headers.cookie or headers.Cookie
      headers.cookie, headers.Cookie = concat(sent, "; ") .. (own and "; " .. own or ""), nil
    end
    local copy = {}
    for k, v in pairs(req) do copy[k] = v end
    copy.headers = headers
    local res = M.request(copy)
    for _, line in ipairs(res.cookies or {}) do
      local name, value = line:match("^%s*([^=;%s]+)=([^;]*)")
      if name then
        local attrs = line:lower()
        local gone = value == "" or attrs:find(";%s*max%-age=%-?0+%s*;") or attrs:find(";%s*max%-age=%-?0+%s*$")
          or attrs:find("expires=thu, 01 jan 1970", 1, true)
        jar[name] = not gone and value or nil
      end
    end
    return res
  end
  return client
end

--- t.sse { path, headers?, session? } (or t.sse(path)) -> an in-process event stream from a route
--- wired with sse = true: conn:receive(timeout_ms?) -> the next event (decoded JSON, or the text),
--- conn.messages (all events), conn.closed once the stream ended, conn:close().
function M.sse(req)
  return runtime.sse(req)
end

--- t.subscribe(topic, ...) -> an in-process listener subscribed to these topics; :receive(timeout_ms?)
--- returns the next published data (decoded), .messages has them all.
function M.subscribe(...)
  return runtime.listen(...)
end

--- t.drain_queue(name?), t.run_schedule(name, execution_ms?), t.job_counts(name): jobs and
--- schedules without the clock (see pikku.jobs_testing).
do
  local jt = require "pikku.jobs_testing"
  M.drain_queue, M.run_schedule, M.job_counts = jt.drain_queue, jt.run_schedule, jt.job_counts
end

-- ---- describe / it -----------------------------------------------------------------------------

local function record_failure(name, msg)
  failed = failed + 1
  progress(nil, passed, failed)
  failures[#failures + 1] = { name = name, message = msg }
  out("FAIL " .. name)
end

local function full_name(block, name)
  local parts = { name }
  while block and block.name do
    table.insert(parts, 1, block.name)
    block = block.parent
  end
  return concat(parts, " > ")
end

--- describe(name, fn): groups tests; fn runs at once to collect them.
function M.describe(name, fn)
  if type(fn) ~= "function" then error("describe: expected describe(name, function() ... end)", 2) end
  local block = { name = tostring(name), parent = current, before = {}, after = {} }
  local prev = current
  current = block
  local ok, err = xpcall(fn, traceback)
  current = prev
  if not ok then record_failure(full_name(block, "(describe block)"), tostring(err)) end
end

--- it(name, fn, opts?): one test; fn may sleep, call functions and make in-process requests.
--- opts.timeout: ms before the test fails as timed out (default 10000, or $PIKKU_TEST_TIMEOUT_MS).
function M.it(name, fn, opts)
  if type(fn) ~= "function" then error("it: expected it(name, function() ... end)", 2) end
  local timeout = opts and opts.timeout or DEFAULT_TIMEOUT_MS
  if type(timeout) ~= "number" or timeout <= 0 then error("it: timeout must be a number of ms > 0", 2) end
  local full = full_name(current, tostring(name))
  if filter and not find(full, filter) then
    filtered_out = filtered_out + 1
    return
  end
  tests[#tests + 1] = { name = full, fn = fn, block = current, timeout = timeout }
end

--- before_each(fn) / after_each(fn): run around every test of the enclosing describe (and nested).
function M.before_each(fn)
  local b = current.before
  b[#b + 1] = fn
end

function M.after_each(fn)
  local a = current.after
  a[#a + 1] = fn
end

-- Errors from assertions already carry "file:line:"; anything else gets a traceback.
local function on_test_error(e)
  if type(e) == "string" and find(e, "^[^\n]-:%d+: ") then return e end
  if errors.is(e) then return traceback("unexpected error " .. tostring(e), 2) end
  return traceback(tostring(e), 2)
end

local function run_test(test)
  local chain = {}
  local b = test.block
  while b do
    table.insert(chain, 1, b)
    b = b.parent
  end
  local ok, err = true, nil
  for _, block in ipairs(chain) do
    for _, f in ipairs(block.before) do
      if ok then ok, err = xpcall(f, on_test_error) end
    end
  end
  progress(test.name, passed, failed)
  if ok then ok, err = xpcall(test.fn, on_test_error) end
  for i = #chain, 1, -1 do
    for _, f in ipairs(chain[i].after) do
      local aok, aerr = xpcall(f, on_test_error)
      if ok and not aok then ok, err = false, "after_each: " .. tostring(aerr) end
    end
  end
  test.done = true
  if test.timed_out then return end       -- already counted as failed; the run has moved on
  if ok then
    passed = passed + 1
    progress(nil, passed, failed)
    out("ok   " .. test.name)
  else
    record_failure(test.name, tostring(err))
  end
end

-- Each test runs in its own coroutine; the runner waits for it to finish or for its timeout,
-- whichever comes first (both wake the same token; the second finds nothing to wake).
local function run_all()
  for _, test in ipairs(tests) do
    runtime.spawn(function()
      run_test(test)
      if test.waker then core.timer(0, test.waker) end
    end)
    if not test.done then
      runtime._wait(function(token)
        test.waker = token
        core.timer(test.timeout, token)
      end)
      if not test.done then
        test.timed_out = true
        record_failure(test.name, format("timed out after %d ms (it(name, fn, { timeout = ms }) sets"
          .. " another limit)", test.timeout))
      end
    end
  end
  finished = true
  if stop_loop then stop_loop() end
end

-- The globals a test file sees (besides the standard ones).
local function test_env()
  return setmetatable({
    describe = M.describe, it = M.it, before_each = M.before_each, after_each = M.after_each,
    expect = M.expect, t = M,
  }, { __index = _G })
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- M.files(app_dir) -> sorted list of APP_DIR/tests/*_test.lua
function M.files(app_dir)
  local dir = app_dir .. "/tests"
  local p = io.popen("ls -1 " .. shell_quote(dir) .. " 2>/dev/null")
  local list = {}
  if p then
    for name in p:lines() do
      if find(name, "_test%.lua$") then list[#list + 1] = dir .. "/" .. name end
    end
    p:close()
  end
  sort(list)
  return list
end

--- start(app_dir, stop?, pattern?): collects and starts the tests; returns at once (tests may finish
--- later). stop() is called when the last test is done (it ends the event loop). pattern: only the
--- tests whose full name ("describe > it") matches this Lua pattern run (pikku test --filter).
function M.start(app_dir, stop, pattern)
  reset()
  started = true
  stop_loop = stop
  if pattern ~= nil then
    local ok, perr = pcall(find, "", pattern)
    if not ok then
      record_failure("--filter " .. pattern, "not a valid Lua pattern: " .. tostring(perr))
      finished = true
      if stop then stop() end
      return
    end
    filter = pattern
  end
  app_dir = tostring(app_dir):gsub("/+$", "")
  local files = M.files(app_dir)
  if #files == 0 then
    out("no test files: put tests in " .. app_dir .. "/tests/<name>_test.lua")
  end
  for _, file in ipairs(files) do
    local chunk, err = loadfile(file)
    if not chunk then
      record_failure(file, "cannot load: " .. tostring(err))
    else
      setfenv(chunk, test_env())
      current = root
      local ok, lerr = xpcall(chunk, traceback)
      current = root
      if not ok then record_failure(file, tostring(lerr)) end
    end
  end
  runtime.spawn(run_all)
end

--- finish() -> number of failures; prints the failures and "N passed, N failed".
function M.finish()
  if not finished then
    for _, test in ipairs(tests) do
      if not test.done and started then
        record_failure(test.name, "did not finish: it waited for something that never happened"
          .. " (a coroutine.yield outside pikku, or a request that never answered)")
      end
    end
  end
  if #failures > 0 then
    out("")
    out("Failures:")
    for i, f in ipairs(failures) do
      out(format("%d) %s", i, f.name))
      out("   " .. f.message:gsub("\n", "\n   "))
      out(rep("-", 20))
    end
  end
  if filter then
    out(format("%d passed, %d failed, %d not run (--filter %s)", passed, failed, filtered_out, filter))
    if passed + failed == 0 then
      out("no test matches --filter " .. filter .. " (a Lua pattern on \"describe > it\"; %- escapes a -)")
      return 1
    end
  else
    out(format("%d passed, %d failed", passed, failed))
  end
  return failed
end

return M
