-- The SHA-256 hash chain of native/chain.c in plain Lua (LuaJIT's bit library): the native-vs-Lua comparison.
local M = {}

local bit = require "bit"
local band, bor, bxor, bnot, rshift, lshift, ror, tobit =
  bit.band, bit.bor, bit.bxor, bit.bnot, bit.rshift, bit.lshift, bit.ror, bit.tobit
local byte, char, format, concat = string.byte, string.char, string.format, table.concat

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
for i = 1, 64 do K[i] = tobit(K[i]) end

local w = {}

-- One 64-byte block of msg at offset off (1-based) into the state h (8 words).
local function block(h, msg, off)
  for i = 0, 15 do
    local a, b, c, d = byte(msg, off + 4 * i, off + 4 * i + 3)
    w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for i = 16, 63 do
    local w15, w2 = w[i - 15], w[i - 2]
    local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
    local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
    w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
  for i = 0, 63 do
    local ch = bxor(band(e, f), band(bnot(e), g))
    local t1 = tobit(hh + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + ch + K[i + 1] + w[i])
    local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c)))
    hh, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
  h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + hh)
end

local function be32(x)
  return char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
end

--- sha256(msg) -> the 32-byte digest
function M.sha256(msg)
  local h = { tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a),
              tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19) }
  local n = #msg
  local padded = msg .. "\128" .. string.rep("\0", (55 - n) % 64) .. be32(0) .. be32(n * 8)
  for off = 1, #padded, 64 do block(h, padded, off) end
  return be32(h[1]) .. be32(h[2]) .. be32(h[3]) .. be32(h[4]) .. be32(h[5]) .. be32(h[6]) .. be32(h[7]) .. be32(h[8])
end

--- chain(seed, rounds) -> hex of h(rounds), h1 = sha256(seed), h(i+1) = sha256(hi)
function M.chain(seed, rounds)
  local h = M.sha256(seed)
  for _ = 2, rounds do h = M.sha256(h) end
  local hex = {}
  for i = 1, 32 do hex[i] = format("%02x", byte(h, i)) end
  return concat(hex)
end

return M
