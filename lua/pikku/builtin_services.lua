-- The services pikku gives every app before its own: sleep, logger, config, jwt, eventhub, rpc, queue, scheduler.
local M = {}

local core = require "pikku.core"
local eventhub = require "pikku.eventhub"
local pipeline = require "pikku.pipeline"
local queue_service = require "pikku.queue_service"

local tostring, ipairs, select, error, require = tostring, ipairs, select, error, require
local format = string.format
local core_log = core.log

-- services.logger: logger.info("x %d", n) or logger:info(...); each line carries the errorId of
-- the call running (call_id() -> id or nil).
local function make_logger(call_id)
  local logger = {}
  for _, level in ipairs { "debug", "info", "warn", "error" } do
    logger[level] = function(a, b, ...)
      local msg = a
      if a == logger then   -- called as logger:info(...)
        msg = b
        if select("#", ...) > 0 then msg = format(tostring(msg), ...) end
      elseif b ~= nil or select("#", ...) > 0 then
        msg = format(tostring(msg), b, ...)
      end
      core_log(level, tostring(msg), call_id())
    end
  end
  return logger
end

-- services.jwt: sign and verify with the secrets of pikku.auth { jwt = ... }.
local function make_jwt_service(cfg)
  local svc = {}
  local function need()
    if not (cfg and cfg.jwt) then
      error("services.jwt: configure the secrets first: pikku.auth { jwt = { secrets = { \"...\" } } }", 3)
    end
    return require "pikku.jwt"
  end
  -- accepts svc:sign(claims, opts) and svc.sign(claims, opts)
  function svc.sign(a, b, c)
    if a == svc then a, b = b, c end
    local opts = b
    if opts == nil and cfg and cfg.jwt and cfg.jwt.expires_in then opts = { expires_in = cfg.jwt.expires_in } end
    return need().sign(a, cfg.jwt.secrets, opts)
  end
  function svc.verify(a, b)
    if a == svc then a = b end
    return need().verify(a, cfg.jwt.secrets, os.time())
  end
  return svc
end

--- new(registry, sleep, call_id) -> the services table of an app being loaded (pikku._registry
--- gives its config and auth settings; sleep is runtime.sleep; call_id() names the running call).
function M.new(reg, sleep, call_id)
  local logger = make_logger(call_id)
  return {
    sleep = sleep, logger = logger, config = reg.config or {},
    jwt = make_jwt_service(reg.auth), eventhub = eventhub.new(),
    rpc = { invoke = pipeline.services_invoke },
    queue = queue_service.new_queue(), scheduler = queue_service.new_scheduler(),
  }
end

return M
