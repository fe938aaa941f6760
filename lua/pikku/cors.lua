-- CORS: the headers added to responses for allowed origins, and the answer to preflight requests.
local M = {}

local tostring, ipairs, pairs = tostring, ipairs, pairs
local concat, upper, format, find = table.concat, string.upper, string.format, string.find

--- M.compile(cfg) -> compiled settings (cfg as given to pikku.cors, already checked there)
function M.compile(cfg)
  local c = { any = cfg.origins == "*", allowed = {}, credentials = cfg.credentials and true or false }
  if not c.any then
    for _, o in ipairs(cfg.origins) do c.allowed[o] = true end
  end
  if cfg.methods then
    local m = {}
    for i, v in ipairs(cfg.methods) do m[i] = upper(v) end
    c.methods = concat(m, ", ")
  end
  if cfg.headers then c.headers = concat(cfg.headers, ", ") end
  if cfg.max_age then c.max_age = format("%d", cfg.max_age) end
  -- what every allowed response carries after Access-Control-Allow-Origin
  local tail = {}
  if not c.any or c.credentials then tail[#tail + 1] = "Vary: Origin\r\n" end
  if c.credentials then tail[#tail + 1] = "Access-Control-Allow-Credentials: true\r\n" end
  if cfg.expose_headers and cfg.expose_headers[1] then
    tail[#tail + 1] = "Access-Control-Expose-Headers: " .. concat(cfg.expose_headers, ", ") .. "\r\n"
  end
  c.tail = concat(tail)
  return c
end

-- The Access-Control-Allow-Origin value for this request's Origin, or nil when not allowed.
local function allow_origin(c, origin)
  if origin == nil or origin == "" or find(origin, "[\r\n]") then return nil end
  if c.any then
    return c.credentials and origin or "*"
  end
  if c.allowed[origin] then return origin end
  return nil
end
M.allow_origin = allow_origin

--- M.response_lines(c, origin) -> header lines for a normal response, or nil
function M.response_lines(c, origin)
  local allow = allow_origin(c, origin)
  if allow == nil then
    if not c.any then return "Vary: Origin\r\n" end
    return nil
  end
  return "Access-Control-Allow-Origin: " .. allow .. "\r\n" .. c.tail
end

--- M.preflight(c, origin, request_headers, wired_methods) -> header lines for the 204 answer.
--- wired_methods: "GET, HEAD, POST" (the methods wired at this path).
function M.preflight(c, origin, request_headers, wired_methods)
  local allow = allow_origin(c, origin)
  local lines = { "Allow: " .. wired_methods .. ", OPTIONS\r\n" }
  if allow == nil then
    lines[#lines + 1] = "Vary: Origin\r\n"
    return concat(lines)
  end
  lines[#lines + 1] = "Access-Control-Allow-Origin: " .. allow .. "\r\n"
  lines[#lines + 1] = c.tail
  if c.any and not c.credentials then lines[#lines + 1] = "Vary: Origin\r\n" end
  lines[#lines + 1] = "Access-Control-Allow-Methods: " .. (c.methods or wired_methods) .. "\r\n"
  local h = c.headers or request_headers
  if h and h ~= "" and not find(h, "[\r\n]") then
    lines[#lines + 1] = "Access-Control-Allow-Headers: " .. h .. "\r\n"
    if not c.headers then lines[#lines + 1] = "Vary: Access-Control-Request-Headers\r\n" end
  end
  if c.max_age then lines[#lines + 1] = "Access-Control-Max-Age: " .. c.max_age .. "\r\n" end
  return concat(lines)
end

--- M.methods_string(set) -> "GET, HEAD, POST" from a set { GET = true, ... } (GET implies HEAD)
function M.methods_string(set)
  local order = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" }
  local out = {}
  for _, m in ipairs(order) do
    if set[m] or (m == "HEAD" and set.GET) then out[#out + 1] = m end
  end
  for m in pairs(set) do
    local known = false
    for _, o in ipairs(order) do if o == m then known = true end end
    if not known and m ~= "OPTIONS" then out[#out + 1] = tostring(m) end
  end
  return concat(out, ", ")
end

return M
