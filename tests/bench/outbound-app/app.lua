-- Benchmark app: one Redis GET and one PostgreSQL primary-key SELECT per request (tests/bench/outbound.sh).
local pikku = require "pikku"

local redis = pikku.redis.connect(os.getenv("REDIS_URL"), { pool_size = 64 })
local db = pikku.pg.connect(os.getenv("DATABASE_URL"), { pool_size = 16 })

pikku.wire_http { method = "get", route = "/item/:id", auth = false, func = function(_, data)
  local id = tonumber(data.id) or 1
  local hits = redis:get("bench:hits:" .. id)
  local row = db:query("SELECT id, name FROM bench_items WHERE id = $1", id)[1]
  return { id = row and row.id, name = row and row.name, hits = hits }
end }
