-- A secret kept in a file only its owner may read: read with checks, or created once, atomically (Linux, FFI).
--
--   local secret_file = require "pikku.secret_file"
--   local secret, created = secret_file.load("/var/lib/app/app.secret")
--
-- A missing file is created with 32 random bytes (OpenSSL's CSPRNG), written as 64 hex digits and
-- a newline: into a temporary file opened with O_CREAT|O_EXCL and mode 0600 (so it is never
-- readable by others, not even for a moment), then hard-linked to its name. link() fails when the
-- name exists, so of several processes creating it at once (a master and its workers, two servers
-- sharing one directory) exactly one wins, and all of them then read the winner's complete file.
--
-- An existing file must be a regular file owned by the effective user, with no permission for group
-- or others (as ssh demands of private keys), and hold one line of 32 to 4096 bytes (a final
-- newline and surrounding blanks are not part of the secret). Anything else raises an error saying
-- what is wrong and how to fix it.
local ffi = require "ffi"
local bit = require "bit"

local M = {}

local type, tostring, tonumber, error, pcall, ipairs = type, tostring, tonumber, error, pcall, ipairs
local band = bit.band
local format, find, match, gsub = string.format, string.find, string.match, string.gsub

M.MIN_BYTES = 32      -- a secret shorter than this is refused
M.MAX_BYTES = 4096    -- a file larger than this is not a secret file

-- Each declaration on its own, so a module that declared some of them already does not break us.
for _, decl in ipairs {
  "int open(const char *path, int flags, ...);",
  "intptr_t read(int fd, void *buf, size_t n);",
  "intptr_t write(int fd, const void *buf, size_t n);",
  "int close(int fd);",
  "int fsync(int fd);",
  "int link(const char *oldpath, const char *newpath);",
  "int unlink(const char *path);",
  "unsigned int geteuid(void);",
  "int getpid(void);",
  "char *strerror(int errnum);",
  -- struct statx (linux/stat.h): the same layout on every architecture, 256 bytes
  [[struct pk_statx { uint32_t mask, blksize; uint64_t attributes; uint32_t nlink, uid, gid;
                      uint16_t mode, spare0; uint64_t ino, size, blocks, attributes_mask; uint8_t rest[192]; };]],
  "int statx(int dirfd, const char *path, int flags, unsigned int mask, struct pk_statx *buf);",
} do
  pcall(ffi.cdef, decl)
end
local C = ffi.C

-- Linux's values (the same on x86-64, arm64 and the other architectures Debian builds for)
local O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_CLOEXEC = 0, 1, 0x40, 0x80, 0x80000
local AT_EMPTY_PATH = 0x1000
local STATX_TYPE, STATX_MODE, STATX_UID, STATX_SIZE = 0x1, 0x2, 0x8, 0x200
local S_IFMT, S_IFREG = 61440, 32768              -- 0170000, 0100000
local ENOENT, EEXIST, EINTR = 2, 17, 4

local function strerror(e)
  return ffi.string(C.strerror(e))
end

local function mode_text(mode)
  return format("%04o", band(mode, 4095))
end

-- The directory a path is in ("." for a bare name).
local function dir_of(path)
  return match(path, "^(.*)/[^/]*$") or "."
end
M.dir_of = dir_of

-- Checks the open file fd (path for messages): regular, ours, no access for group or others.
local function check_open_file(fd, path)
  local st = ffi.new("struct pk_statx")
  if C.statx(fd, "", AT_EMPTY_PATH, STATX_TYPE + STATX_MODE + STATX_UID + STATX_SIZE, st) ~= 0 then
    error(format("cannot stat the secret file %s: %s", path, strerror(ffi.errno())), 0)
  end
  local mode = st.mode
  if band(mode, S_IFMT) ~= S_IFREG then
    error(format("the secret file %s is not a regular file", path), 0)
  end
  local euid = C.geteuid()
  if st.uid ~= euid then
    error(format("the secret file %s belongs to uid %d, not to the user pikku runs as (uid %d): refusing to use it;"
      .. " chown it, or delete it to have a new one generated", path, tonumber(st.uid), tonumber(euid)), 0)
  end
  if band(mode, 63) ~= 0 then   -- mode & 077: group or others may read, write or enter
    error(format("the secret file %s is accessible to group or others (mode %s): refusing to use it;"
      .. " chmod 600 it (and make a new secret if others may have read it)", path, mode_text(mode)), 0)
  end
  if st.size > M.MAX_BYTES then
    error(format("the secret file %s is %d bytes: a secret file holds one line of at most %d bytes",
      path, tonumber(st.size), M.MAX_BYTES), 0)
  end
end

-- Reads all of fd (at most MAX_BYTES + 1 bytes).
local function read_all(fd, path)
  local buf = ffi.new("char[?]", M.MAX_BYTES + 1)
  local got = 0
  while got <= M.MAX_BYTES do
    local n = tonumber(C.read(fd, buf + got, M.MAX_BYTES + 1 - got))
    if n < 0 then
      local e = ffi.errno()
      if e ~= EINTR then error(format("cannot read the secret file %s: %s", path, strerror(e)), 0) end
    elseif n == 0 then
      break
    else
      got = got + n
    end
  end
  return ffi.string(buf, got)
end

-- The secret in a file's text, or raises: one line, surrounding blanks and the final newline dropped.
local function parse(text, path)
  local s = gsub(gsub(text, "^[ \t\r\n]+", ""), "[ \t\r\n]+$", "")
  if s == "" then
    error(format("the secret file %s is empty: delete it to have a new one generated, or write a secret of at least"
      .. " %d bytes into it (openssl rand -hex 32)", path, M.MIN_BYTES), 0)
  end
  if find(s, "[\r\n]") then
    error(format("the secret file %s holds more than one line: it must hold one secret", path), 0)
  end
  if #s < M.MIN_BYTES then
    error(format("the secret in %s is %d bytes: a signing secret needs at least %d (openssl rand -hex 32);"
      .. " delete the file to have a new one generated", path, #s, M.MIN_BYTES), 0)
  end
  return s
end

--- secret_file.read(path) -> the secret, or nil when the file does not exist; raises on anything wrong.
function M.read(path)
  local fd = C.open(path, O_RDONLY + O_CLOEXEC)
  if fd < 0 then
    local e = ffi.errno()
    if e == ENOENT then return nil end
    error(format("cannot read the secret file %s: %s", path, strerror(e)), 0)
  end
  local ok, res = pcall(function()
    check_open_file(fd, path)
    return parse(read_all(fd, path), path)
  end)
  C.close(fd)
  if not ok then error(res, 0) end
  return res
end

-- Writes all of s to fd.
local function write_all(fd, s, path)
  local off = 0
  while off < #s do
    local n = tonumber(C.write(fd, ffi.cast("const char *", s) + off, #s - off))
    if n < 0 then
      local e = ffi.errno()
      if e ~= EINTR then error(format("cannot write %s: %s", path, strerror(e)), 0) end
    else
      off = off + n
    end
  end
end

-- fsync of the directory, so the new name survives a crash (best effort: some filesystems refuse).
local function sync_dir(dir)
  local fd = C.open(dir, O_RDONLY + O_CLOEXEC)
  if fd >= 0 then
    C.fsync(fd)
    C.close(fd)
  end
end

--- secret_file.create(path, text) -> true when this call created the file with `text`, false when it
--- existed already (made by someone else, maybe at this very moment). Raises when it cannot be made.
function M.create(path, text)
  local dir = dir_of(path)
  local base = match(path, "([^/]*)$")
  local crypto = require "pikku.crypto_c"
  local tmp = format("%s/.%s.tmp-%d-%s", dir, base, C.getpid(), crypto.hex(crypto.random_bytes(6)))
  local fd = C.open(tmp, O_WRONLY + O_CREAT + O_EXCL + O_CLOEXEC, ffi.new("int", 384))   -- 0600
  if fd < 0 then
    local e = ffi.errno()
    if e == ENOENT then
      error(format("cannot create the secret file %s: the directory %s does not exist", path, dir), 0)
    end
    error(format("cannot create the secret file %s in %s: %s (the directory must be writable by the user pikku"
      .. " runs as)", path, dir, strerror(e)), 0)
  end
  local ok, err = pcall(function()
    write_all(fd, text, tmp)
    if C.fsync(fd) ~= 0 then error(format("cannot write %s: %s", tmp, strerror(ffi.errno())), 0) end
  end)
  C.close(fd)
  local linked, link_errno = false, nil
  if ok then
    linked = C.link(tmp, path) == 0
    if not linked then link_errno = ffi.errno() end
  end
  C.unlink(tmp)
  if not ok then error(err, 0) end
  if linked then
    sync_dir(dir)
    return true
  end
  if link_errno == EEXIST then return false end
  error(format("cannot create the secret file %s: link: %s", path, strerror(link_errno)), 0)
end

--- secret_file.generate() -> a new secret: 32 random bytes from OpenSSL's CSPRNG as 64 hex digits.
function M.generate()
  local crypto = require "pikku.crypto_c"
  return crypto.hex(crypto.random_bytes(32))
end

--- secret_file.load(path) -> secret, created: the file's secret, creating the file first when it is
--- missing (created is true when this call made it). Raises a message naming the file on any problem.
function M.load(path)
  if type(path) ~= "string" or path == "" then
    error("secret_file.load: path must be a non-empty string, got " .. tostring(path), 2)
  end
  if ffi.os ~= "Linux" then
    error("secret_file: generating a secret file works on Linux only; give the secret another way", 0)
  end
  local secret = M.read(path)
  if secret then return secret, false end
  local created = M.create(path, M.generate() .. "\n")
  secret = M.read(path)
  if not secret then   -- removed again between link and read
    error(format("the secret file %s vanished right after it was created", path), 0)
  end
  return secret, created
end

return M
