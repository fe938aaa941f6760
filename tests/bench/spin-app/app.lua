-- Benchmark app: GET /hello answers as apps/hello does after SPIN (env) loop iterations of busy work,
-- so that pikku can be slowed to a peer's request rate and the p99 compared at the same rate
-- (tests/bench/pinned.sh SPIN=N; docs/benchmarks.md, "Stop 20").
local pikku = require "pikku"

pikku.config { app = "spin" }

local spin = tonumber(os.getenv("SPIN") or "") or 0
local sink = 0   -- the loop's result is kept, so no compiler may drop the loop

pikku.wire_http {
  method = "get", route = "/hello",
  func = pikku.func { auth = false, func = function()
    local x = sink
    for i = 1, spin do x = x + i % 7 end
    sink = x
    return { message = "hello" }
  end },
}
