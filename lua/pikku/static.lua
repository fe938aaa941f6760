-- pikku.wire_static: the checks of a static route, and its wiring into the core (the core serves the files).
local M = {}

local fields = require "pikku.fields"

local type, tostring, error = type, tostring, error
local sub, find, match, format = string.sub, string.find, string.match, string.format

local function fail(what, msg, level) error(what .. ": " .. msg, level + 1) end

--- check(s, place, level) -> the registration { route, dir, opts, place }; raises at the app's line.
function M.check(s, place, level)
  local what = "pikku.wire_static"
  level = level + 1
  if type(s) ~= "table" then fail(what, 'expected a table { route = "/assets/*path", dir = "public" }', level) end
  fields.check(s, fields.wire_static, what, level)
  local route = s.route
  if type(route) ~= "string" or sub(route, 1, 1) ~= "/" or not find(route, "/%*[%a_][%w_]*$") then
    fail(what, 'route must start with "/" and end with a wildcard segment such as "/*path", got '
      .. (type(route) == "string" and ('"' .. route .. '"') or type(route)), level)
  end
  if type(s.dir) ~= "string" or s.dir == "" then
    fail(what, "dir must be a directory (relative to the app's folder, or absolute)", level)
  end
  if s.index ~= nil and (type(s.index) ~= "string" or s.index == "" or find(s.index, "/", 1, true)) then
    fail(what, 'index must be a file name such as "index.html" (or false for none)', level)
  end
  if s.max_age ~= nil and (type(s.max_age) ~= "number" or s.max_age < 0) then
    fail(what, "max_age must be a number of seconds", level)
  end
  if s.spa and s.index == false then fail(what, "spa = true needs an index file", level) end
  local opts = {
    index = s.index == nil and "index.html" or s.index or nil, max_age = s.max_age,
    immutable = s.immutable and true or false, spa = s.spa and true or false,
    precompressed = s.precompressed ~= false, dotfiles = s.dotfiles and true or false,
  }
  return { route = route, dir = s.dir, opts = opts, place = place, method = "GET" }
end

--- dir_of(app_dir, dir) -> the directory's path: dir as given when absolute, else beneath the app.
function M.dir_of(app_dir, dir)
  if sub(dir, 1, 1) == "/" then return dir end
  return app_dir .. "/" .. (match(dir, "^%./(.*)") or dir)
end

--- wire(serve_c, index, r, app_dir): hands the route's directory to the core; raises "place: ..." when it
--- cannot be opened.
function M.wire(serve_c, index, r, app_dir)
  local ok, err = serve_c.static_route(index, M.dir_of(app_dir, r.dir), r.opts)
  if not ok then error(format("%s: pikku.wire_static: %s", r.place, tostring(err)), 0) end
end

return M
