-- `pikku codegen` and `pikku routes`: generate openapi.json, client.ts and client.lua from the loaded app.
local M = {}

local describe = require "pikku.describe"

local type, tostring, pcall, ipairs, require = type, tostring, pcall, ipairs, require
local format, gsub = string.format, string.gsub
local open, stdout, stderr = io.open, io.stdout, io.stderr

M.FILES = { "openapi.json", "client.ts", "client.lua" }

--- M.generate(app_dir) -> { ["openapi.json"] = text, ["client.ts"] = text, ["client.lua"] = text }, doc.
--- Raises "<function or place>: <problem>" when something cannot be generated.
function M.generate(app_dir)
  local model = describe.app(app_dir)
  local openapi = require "pikku.codegen.openapi"
  local doc = openapi.build(model)
  return {
    ["openapi.json"] = require("pikku.codegen.json_out").encode(doc),
    ["client.ts"] = require("pikku.codegen.ts_client").generate(model, doc),
    ["client.lua"] = require("pikku.codegen.lua_client").generate(model, doc),
  }, doc, model
end

local function sh_quote(s)
  return "'" .. gsub(s, "'", "'\\''") .. "'"
end

local function write_all(dir, files)
  if not os.execute("mkdir -p " .. sh_quote(dir)) then
    return nil, format('cannot create the directory "%s"', dir)
  end
  for _, name in ipairs(M.FILES) do
    local path = dir .. "/" .. name
    local f, err = open(path, "wb")
    if not f then return nil, format("cannot write %s: %s", path, tostring(err)) end
    f:write(files[name])
    f:close()
  end
  return true
end

local function read(path)
  local f = open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
M.read = read

local function codegen(args)
  local files = M.generate(args.app_dir)
  if args.out then
    local ok, err = write_all(args.out, files)
    if not ok then error(err, 0) end
    stdout:write(format("pikku codegen: wrote %s/openapi.json, client.ts and client.lua\n", args.out))
  end
  if args.check then
    local old_text = read(args.check .. "/openapi.json")
    if not old_text then
      error(format('--check: no openapi.json in "%s" (give the directory of an earlier codegen --out)', args.check), 0)
    end
    local json = require "pikku.json"
    local old, err = json.decode(old_text)
    if old == nil then error(format("--check: %s/openapi.json is not JSON: %s", args.check, tostring(err)), 0) end
    local new = json.decode(files["openapi.json"])
    local changes = require("pikku.codegen.check").compare(old, new)
    if #changes == 0 then
      stdout:write(format("pikku codegen --check: no breaking change against %s\n", args.check))
      return 0
    end
    stdout:write(format("pikku codegen --check: %d breaking change%s against %s:\n", #changes,
      #changes == 1 and "" or "s", args.check))
    for _, c in ipairs(changes) do stdout:write("  ", c, "\n") end
    return 1
  end
  return 0
end

local function routes(args)
  stdout:write(require("pikku.codegen.routes_table").render(describe.app(args.app_dir)))
  return 0
end

--- M.main(args) -> exit code. args = { command = "codegen" | "routes", app_dir, out?, check? }
--- (what core/src/tool_cmd.c passes). Prints what went wrong to stderr.
function M.main(args)
  local run = args.command == "routes" and routes or codegen
  local ok, res = pcall(run, args)
  stdout:flush()
  if not ok then
    stderr:write(format("pikku %s: %s\n", tostring(args.command), type(res) == "string" and res or tostring(res)))
    return 1
  end
  return res
end

return M
