-- The queue benchmark's app (tests/bench/queue.sh): the same trivial job as the BullMQ peer
-- (data {n = i}, the job returns n + 1), and routes a load client drives.
local pikku = require "pikku"

local CONCURRENCY = tonumber(pikku.env("BENCH_CONCURRENCY", "16"))

pikku.wire_queue_worker {
  name = "bench", concurrency = CONCURRENCY,
  func = function(_, data) return data.n + 1 end,
}

-- "bench-sink" has no worker (it is the dead-letter queue of "bench-hold"): jobs added there only
-- wait, for the enqueue-only measurement.
pikku.wire_queue_worker { name = "bench-hold", func = function() end, dead_letter = "bench-sink" }

-- POST /enqueue/:queue?from=&count=: adds jobs {n = from .. from + count - 1} one after the other,
-- each add waiting for its commit (the client runs INFLIGHT of these requests at once).
pikku.wire_http { method = "post", route = "/enqueue/:queue", auth = false, func = function(services, data)
  local q, from = data.queue, tonumber(data.from) or 0
  for i = from, from + (tonumber(data.count) or 0) - 1 do
    services.queue:add(q, { n = i })
  end
  return { added = tonumber(data.count) }
end }

pikku.wire_http { method = "get", route = "/counts/:queue", auth = false, func = function(services, data)
  return services.queue:get_counts(data.queue)
end }
