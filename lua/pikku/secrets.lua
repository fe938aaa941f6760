-- Signing secrets as apps give them (a string, or a list for key rotation), checked once for jwt and cookie sessions.
local M = {}

local type, ipairs, error = type, ipairs, error

--- M.list(secrets, fname) -> list of non-empty strings (the first one signs; any one verifies).
--- A misconfiguration is a programmer error and raises, blaming the caller of fname.
function M.list(secrets, fname)
  if type(secrets) == "string" then
    secrets = { secrets }
  elseif type(secrets) ~= "table" or secrets[1] == nil then
    error(fname .. ": secrets must be a string or a non-empty list of strings, got " .. type(secrets), 3)
  end
  for i, s in ipairs(secrets) do
    if type(s) ~= "string" or s == "" then
      error(fname .. ": secret #" .. i .. " must be a non-empty string", 3)
    end
  end
  return secrets
end

return M
