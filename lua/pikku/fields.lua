-- The fields each pikku.* definition table may have: an unknown one (a typo such as `permision`) is a load error.
local M = {}

local type, pairs, tostring, error = type, pairs, tostring, error
local sort, concat = table.sort, table.concat
local byte, lower, format = string.byte, string.lower, string.format

local function set(list)
  local s = {}
  for w in list:gmatch("%S+") do s[w] = true end
  return s
end

-- Annotations any definition may carry (documentation, OpenAPI-style metadata).
local NOTES = " title description summary tags docs deprecated "

M.func = set("func name input output auth permissions middleware expose errors timeout_ms" .. NOTES)
M.native_func = set("lib symbol name input output auth permissions middleware expose errors timeout_ms" .. NOTES)
M.limits = set("timeout_ms")
M.wire_http = set("method route func auth middleware raw_body sse max_body" .. NOTES)
M.wire_static = set("route dir index max_age immutable spa precompressed dotfiles" .. NOTES)
M.http_group = set("base_path auth middleware routes" .. NOTES)
M.wire_channel = set("name route auth middleware protocols on_connect on_disconnect on_message"
  .. " on_binary on_message_wiring" .. NOTES)
M.channel_entry = set("func auth middleware")
M.wire_scheduler = set("name schedule func timezone overlap catch_up" .. NOTES)
M.wire_queue_worker = set("name func concurrency retry_attempts retry_delay retry_backoff timeout dead_letter input"
  .. NOTES)
M.queue_add = set("delay priority job_id")
M.cors = set("origins methods headers expose_headers credentials max_age")
M.auth = set("cookie jwt api_key csrf")
M.auth_cookie = set("name secrets secure max_age same_site path domain")
M.auth_jwt = set("secrets expires_in")
M.auth_api_key = set("header query check")

-- Levenshtein distance of two short strings, case-insensitive.
local function distance(a, b)
  a, b = lower(a), lower(b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    local ca = byte(a, i)
    for j = 1, #b do
      local cost = ca == byte(b, j) and 0 or 1
      local v = prev[j] + 1
      if cur[j - 1] + 1 < v then v = cur[j - 1] + 1 end
      if prev[j - 1] + cost < v then v = prev[j - 1] + cost end
      cur[j] = v
    end
    prev = cur
  end
  return prev[#b]
end

-- The known field closest to name, when it is close enough to be a likely typo.
local function closest(name, known)
  local best, best_d = nil, 3
  for k in pairs(known) do
    local d = distance(name, k)
    if d < best_d or (d == best_d and best and k < best) then best, best_d = k, d end
  end
  if best and best_d <= (#name <= 4 and 1 or 2) then return best end
  return nil
end

--- fields.check(t, known, what, level): raises "<what>: unknown field "x" (did you mean "y"?
--- known fields: ...)" for the first string key of t that known does not have. Numeric keys
--- (list parts) are the caller's business.
function M.check(t, known, what, level)
  local unknown = {}
  for k in pairs(t) do
    if type(k) == "string" and not known[k] then unknown[#unknown + 1] = k end
  end
  if #unknown == 0 then return end
  sort(unknown)
  local name = unknown[1]
  local names = {}
  for k in pairs(known) do names[#names + 1] = k end
  sort(names)
  local guess = closest(name, known)
  error(format('%s: unknown field "%s"%s (known fields: %s)', what, tostring(name),
    guess and format(' (did you mean "%s"?)', guess) or "", concat(names, ", ")), level + 1)
end

return M
