-- Serves the app's own API docs: GET /openapi.json and the API page (Swagger UI's files, served by the host).
local M = {}

local pikku = require "pikku"
local describe = require "pikku.describe"

local type, ipairs, pcall, tostring, error = type, ipairs, pcall, tostring, error
local format, gsub, match, sub = string.format, string.gsub, string.match, string.sub
local open, getenv = io.open, os.getenv

M.DEFAULT_PATH = "/docs"
M.SPEC_PATH = "/openapi.json"

-- The files of swagger-ui-dist the page needs, and their types: nothing else is served from there.
local ASSETS = {
  ["swagger-ui.css"] = "text/css; charset=utf-8",
  ["swagger-ui-bundle.js"] = "text/javascript; charset=utf-8",
  ["favicon-32x32.png"] = "image/png",
}

--- M.dist_dir() -> where Swagger UI's built files are: $PIKKU_DOCS_UI_DIR, else
--- lua/pikku/docs_ui/node_modules/swagger-ui-dist beside this file (npm ci there installs them).
function M.dist_dir()
  local env = getenv("PIKKU_DOCS_UI_DIR")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source
  local dir = match(src, "^@(.*)/[^/]*$") or "."
  return dir .. "/docs_ui/node_modules/swagger-ui-dist"
end

local function read(path)
  local f = open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function html_escape(s)
  return (gsub(tostring(s), "[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

--- M.path(core) -> the page's path, or nil when the docs are off: --api-docs PATH, "off", else
--- /docs under --dev only.
function M.path(core)
  local setting = core.api_docs
  if setting == "off" then return nil end
  if type(setting) == "string" and sub(setting, 1, 1) == "/" then
    setting = gsub(setting, "/+$", "")
    return setting == "" and "/" or setting
  end
  if core.dev then return M.DEFAULT_PATH end
  return nil
end

local asset_cache = {}   -- file -> bytes, read once per worker state

local MISSING = [[<!doctype html>
<html><head><meta charset="utf-8"><title>API page not installed</title></head>
<body><h1>The API page's files are not installed</h1>
<p>The host serves Swagger UI from <code>%s</code>, which does not exist.
Install it with <code>tests/install-deps.sh</code>
(or <code>cd lua/pikku/docs_ui &amp;&amp; npm ci --ignore-scripts</code>),
or point <code>PIKKU_DOCS_UI_DIR</code> at a swagger-ui-dist directory (docs/codegen.md).
The API description itself is at <a href="%s">%s</a>.</p></body></html>
]]

local PAGE = [[<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s API</title><link rel="icon" href="%s/assets/favicon-32x32.png">
<link rel="stylesheet" href="%s/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="%s/assets/swagger-ui-bundle.js"></script>
<script src="%s/assets/init.js"></script>
</body></html>
]]

local INIT = [[window.ui = SwaggerUIBundle({ url: %q, dom_id: "#swagger-ui", deepLinking: true, docExpansion: "list" });
]]

-- The wiring already taken by the app, if any (the app's own route wins).
local function taken(reg, method, route)
  for _, w in ipairs(reg.wirings) do
    if w.method == method and w.route == route then return w end
  end
  return nil
end

-- Adds one public GET route, marked as the host's own (describe leaves it out).
local function add(reg, route, fn, log)
  local other = taken(reg, "GET", route)
  if other then
    log("warn", format("API docs: GET %s is not served: the app wires it itself (%s)", route, other.place))
    return
  end
  pikku.wire_http { method = "get", route = route, auth = false, func = fn }
  reg.wirings[#reg.wirings][describe.INTERNAL] = true
end

--- M.wire(reg, core): when the docs are on (M.path), adds GET /openapi.json, GET <path> and
--- GET <path>/assets/:file to the app's wirings (called by the loader after app.lua ran).
function M.wire(reg, core)
  local path = M.path(core)
  if not path then return end
  local log = core.log or function() end
  local app_dir = core.app_dir
  local cached
  local function spec()
    if cached == nil then
      local ok, res = pcall(function()
        return require("pikku.codegen.json_out").encode(require("pikku.codegen.openapi").build(describe.app(app_dir)))
      end)
      if not ok then error(pikku.errors.InternalServerError("cannot describe the app: " .. tostring(res)), 0) end
      cached = res
    end
    return cached
  end
  local base = path == "/" and "" or path
  add(reg, M.SPEC_PATH, function(_, _, wire)
    wire.http:set_header("Content-Type", "application/json")
    return spec()
  end, log)
  add(reg, path, function(_, _, wire)
    local dist = M.dist_dir()
    if not read(dist .. "/swagger-ui-bundle.js") then
      wire.http:set_status(503)
      wire.http:set_header("Content-Type", "text/html; charset=utf-8")
      return format(MISSING, html_escape(dist), M.SPEC_PATH, M.SPEC_PATH)
    end
    wire.http:set_header("Content-Type", "text/html; charset=utf-8")
    local config = reg.config or {}
    local title = html_escape(config.title or config.app or match(app_dir or "", "([^/]+)/*$") or "")
    return format(PAGE, title, base, base, base, base)
  end, log)
  add(reg, base .. "/assets/:file", function(_, data, wire)
    local file = data.file
    if file == "init.js" then
      wire.http:set_header("Content-Type", "text/javascript; charset=utf-8")
      return format(INIT, M.SPEC_PATH)
    end
    local ctype = ASSETS[file]
    local body = ctype and (asset_cache[file] or read(M.dist_dir() .. "/" .. file))
    if body then asset_cache[file] = body end
    if not body then error(pikku.errors.NotFound("no such asset: " .. tostring(file)), 0) end
    wire.http:set_header("Content-Type", ctype)
    wire.http:set_header("Cache-Control", "public, max-age=3600")
    return body
  end, log)
end

return M
