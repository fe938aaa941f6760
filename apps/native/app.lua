-- The native app: the three ways into C (docs/native.md), and a SHA-256 hash chain written in Lua and in C.
--
--   1. FFI: the host's exported API (pikku.h) and the app's own library native/vec.c (pikku.native_lib)
--   2. a Lua C module: native/textstats.c, found by require "textstats"
--   3. native functions: native/chain.c's chain_sha256 and chain_greet (pikku.native_func)
--
-- `pikku build apps/native` compiles native/*.c into apps/native/.pikku/native/*.so (`pikku dev` and
-- `pikku test` do it for what changed).
local pikku = require "pikku"
local ffi = require "ffi"
local textstats = require "textstats"
local chain_lua = require "chain_lua"

local errors = pikku.errors

pikku.config { app = "native" }

-- 1. FFI ------------------------------------------------------------------------------------------
ffi.cdef [[ const char *pk_version(void); ]]
local vec = pikku.native_lib("vec", [[ double vec_sum(const double *xs, int n, double *max); ]])

pikku.wire_http { method = "post", route = "/vec/sum", func = pikku.func {
  auth = false,
  input = { type = "object", properties = { xs = { type = "array", items = { type = "number" }, maxItems = 100000 } },
            required = { "xs" } },
  func = function(_, data)
    local n = #data.xs
    local xs, max = ffi.new("double[?]", n), ffi.new("double[1]")
    for i = 1, n do xs[i - 1] = data.xs[i] end
    local sum = vec.vec_sum(xs, n, max)
    return { sum = sum, max = n > 0 and max[0] or pikku.json.null, host = ffi.string(ffi.C.pk_version()) }
  end,
} }

-- 2. a Lua C module -------------------------------------------------------------------------------
pikku.wire_http { method = "post", route = "/text/stats", func = pikku.func {
  auth = false,
  input = { type = "object", properties = { text = { type = "string" } }, required = { "text" } },
  func = function(_, data)
    local s = textstats.count(data.text)
    s.module = textstats.generation
    return s
  end,
} }

-- 3. native functions -----------------------------------------------------------------------------
local chain_input = {
  type = "object", additionalProperties = false, required = { "seed", "rounds" },
  properties = {
    seed = { type = "string", maxLength = 1024 },
    rounds = { type = "integer", minimum = 1, maximum = 1000000 },
  },
}
local chain_output = {
  type = "object", required = { "rounds", "hex" },
  properties = { rounds = { type = "integer" }, hex = { type = "string", pattern = "^[0-9a-f]{64}$" } },
}

local chain_native = pikku.native_func {
  name = "chainNative", lib = "chain", symbol = "chain_sha256", expose = true, auth = false,
  title = "SHA-256 hash chain, in C", input = chain_input, output = chain_output,
}
local chain_in_lua = pikku.func {
  name = "chainLua", expose = true, auth = false, title = "SHA-256 hash chain, in Lua",
  input = chain_input, output = chain_output,
  func = function(_, data) return { rounds = data.rounds, hex = chain_lua.chain(data.seed, data.rounds) } end,
}
pikku.wire_http { method = "post", route = "/native/chain", func = chain_native }
pikku.wire_http { method = "post", route = "/lua/chain", func = chain_in_lua }

-- the session comes from a middleware here (X-User), to show pk_string(call, PK_SESSION, ...)
local function user_from_header(_, wire, next)
  local user = wire.http:header("x-user")
  if user then wire.session = { user = user } end
  return next()
end

local greet = pikku.native_func {
  name = "greetNative", lib = "chain", symbol = "chain_greet", expose = true, auth = false,
  input = { type = "object", required = { "name" }, properties = {
    name = { type = "string", minLength = 1, maxLength = 64 },
    tags = { type = "array", items = { type = "string" }, maxItems = 16 },
  } },
}
pikku.wire_http { method = "get", route = "/native/greet/:name", middleware = { user_from_header }, func = greet }
pikku.wire_http { method = "post", route = "/native/greet", middleware = { user_from_header }, func = greet }

-- the same functions over a WebSocket channel: {"action":"chain","seed":"a","rounds":3}
pikku.wire_channel {
  name = "native", route = "/ws/native", auth = false,
  on_message_wiring = { action = { chain = chain_native, greet = greet } },
  on_message = pikku.func { auth = false, func = function() error(errors.BadRequest("unknown action")) end },
}

-- faults, for the crash and time-limit tests and demos only (NATIVE_DEMO_FAULTS=1)
if pikku.env("NATIVE_DEMO_FAULTS") == "1" then
  pikku.wire_http { method = "get", route = "/native/crash", func = pikku.native_func {
    lib = "chain", symbol = "chain_crash", auth = false } }
  pikku.wire_http { method = "get", route = "/native/spin", func = pikku.native_func {
    lib = "chain", symbol = "chain_spin", auth = false, timeout_ms = 1000 } }
end
