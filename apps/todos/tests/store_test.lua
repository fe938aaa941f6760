-- The SQLite data layer on its own: schema, seed, queries, validation, and pikku.sqlite itself.
-- luacheck: globals describe it before_each after_each expect t
local helpers = require "tests.helpers"
local sqlite = require "pikku.sqlite"
local cjson = require "cjson.safe"

describe("store", function()
  local store, cleanup
  before_each(function() store, cleanup = helpers.fresh_store() end)
  after_each(function() cleanup() end)

  it("seeds two users and user1's two todos", function()
    expect(store:stats()).to_equal { users = 2, todos = 2 }
    local demo, hash = store:user_by_username("demo")
    expect(demo).to_equal { id = "user1", username = "demo", email = "demo@example.com", role = "user" }
    expect(hash).to_contain("pbkdf2-sha256$")
    expect(store:user_by_id("user2").role).to_equal("admin")
    expect(store:user_by_id("nobody")).to_be_nil()
    local todo1 = store:get("todo1")
    expect(todo1.title).to_equal("Learn Pikku")
    expect(todo1.tags).to_equal { "learning", "pikku" }
    expect(todo1.completed).to_be(false)
  end)

  it("seeds a file only once, even after its seed rows changed", function()
    expect(store:delete("todo1")).to_be(true)
    expect(store:init()).to_be(false)
    expect(store:get("todo1")).to_be_nil()
    expect(store:stats().todos).to_equal(1)
  end)

  it("lists newest first with filters", function()
    local a = store:create("user1", { title = "a", tags = { "x" }, priority = "low" })
    local ids = {}
    for i, todo in ipairs(store:list {}) do ids[i] = todo.id end
    expect(ids[1]).to_equal(a.id)
    expect(#ids).to_equal(3)
    expect(#store:list { completed = true }).to_equal(1)
    expect(#store:list { completed = "false" }).to_equal(2)
    expect(store:list { priority = "low" }[1].id).to_equal(a.id)
    expect(store:list { tag = "x" }[1].id).to_equal(a.id)
    expect(#store:list { tag = "pikku" }).to_equal(2)
    expect(#store:list { userId = "user2" }).to_equal(0)
  end)

  it("treats an empty userId as user1 (the sample's userId || 'user1'); todo ids have no leading zeros", function()
    expect(#store:list { userId = "" }).to_equal(2)
    expect(store:create("", { title = "blank user" }).userId).to_equal("user1")
    expect(store:get("todo01")).to_be_nil()
    expect(store:get("todo0")).to_be_nil()
    expect(store:get("todo1").id).to_equal("todo1")
  end)

  it("lists todos created in the same millisecond newest first", function()
    local ids = {}
    for i = 1, 5 do ids[i] = store:create("user2", { title = "t" .. i }).id end
    local listed = {}
    for i, todo in ipairs(store:list { userId = "user2" }) do listed[i] = todo.id end
    expect(listed).to_equal { ids[5], ids[4], ids[3], ids[2], ids[1] }
  end)

  it("creates with defaults and ids that are never reused", function()
    local a = store:create(nil, { title = "first" })
    expect(a.userId).to_equal("user1")
    expect(a.priority).to_equal("medium")
    expect(a.completed).to_be(false)
    expect(#a.tags).to_equal(0)
    expect(a.description).to_be_nil()
    expect(a.createdAt).to_equal(a.updatedAt)
    expect(a.createdAt:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$")).to_be_truthy()
    store:delete(a.id)
    local b = store:create(nil, { title = "second" })
    expect(b.id == a.id).to_be(false)
  end)

  it("updates fields, clears optional ones with null and leaves the rest", function()
    local a = store:create("user2", { title = "t", description = "d", dueDate = "2030-01-01", tags = { "a" } })
    local u = store:update(a.id, { description = cjson.null, tags = { "b", "c" }, completed = true })
    expect(u.description).to_be_nil()
    expect(u.dueDate).to_equal("2030-01-01")
    expect(u.tags).to_equal { "b", "c" }
    expect(u.completed).to_be(true)
    expect(u.title).to_equal("t")
    expect(store:update("todo999", { title = "x" })).to_be_nil()
    expect(store:update("bogus", { title = "x" })).to_be_nil()
    expect(store:complete("todo1").completed).to_be(true)
  end)

  it("rejects bad fields with 422 and unknown users with 404", function()
    t.expect_error(function() store:create("user1", { title = "" }) end, "UnprocessableContent")
    t.expect_error(function() store:create("user1", { title = "x", priority = "urgent" }) end, 422)
    t.expect_error(function() store:create("user1", { title = "x", tags = { 1 } }) end, 422)
    t.expect_error(function() store:create("ghost", { title = "x" }) end, "NotFound")
    t.expect_error(function() store:update("todo1", { completed = "maybe" }) end, 422)
    t.expect_error(function() store:list { priority = "urgent" } end, 422)
  end)

  it("reopens its connection after close", function()
    store:close()
    expect(store:get("todo2").completed).to_be(true)
  end)
end)

describe("pikku.sqlite", function()
  local path, db
  before_each(function()
    path = os.tmpname()
    db = sqlite.open(path)
    db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, x REAL, flag INTEGER)")
  end)
  after_each(function()
    db:close()
    for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(path .. suffix) end
  end)

  it("opens in WAL mode with foreign keys and a busy timeout", function()
    expect(db:first("PRAGMA journal_mode").journal_mode).to_equal("wal")
    expect(db:first("PRAGMA foreign_keys").foreign_keys).to_equal(1)
    expect(db:first("PRAGMA busy_timeout").timeout).to_equal(5000)
  end)

  it("binds strings, numbers, booleans and nil and reads them back", function()
    local changes, id = db:run("INSERT INTO t (name, x, flag) VALUES (?, ?, ?)", "ann", 1.5, true)
    expect(changes).to_equal(1)
    expect(id).to_equal(1)
    db:run("INSERT INTO t (name, x, flag) VALUES (?, ?, ?)", nil, nil, false)
    expect(db:query("SELECT * FROM t ORDER BY id")).to_equal {
      { id = 1, name = "ann", x = 1.5, flag = 1 },
      { id = 2, flag = 0 },
    }
    expect(db:first("SELECT * FROM t WHERE id = ?", 99)).to_be_nil()
    expect(db:first("SELECT ? AS v", 2 ^ 40).v).to_equal(2 ^ 40)
  end)

  it("raises 'sqlite: <message> (<sql>)'", function()
    local ok, err = pcall(db.query, db, "SELEC 1")
    expect(ok).to_be(false)
    expect(err).to_contain('sqlite: near "SELEC": syntax error (SELEC 1)')
    ok, err = pcall(db.run, db, "INSERT INTO t (id) VALUES (?)")
    expect(ok).to_be(false)
    expect(err).to_contain("0 parameter(s) given, the statement has 1")
    ok, err = pcall(db.run, db, "INSERT INTO t (id) VALUES (?)", {})
    expect(ok).to_be(false)
    expect(err).to_contain("parameter 1 is a table")
  end)

  it("commits a transaction, or rolls it back and re-raises", function()
    expect(db:transaction(function() db:run("INSERT INTO t (name) VALUES ('a')") return 1, 2 end)).to_equal(1)
    local ok, err = pcall(db.transaction, db, function()
      db:run("INSERT INTO t (name) VALUES ('b')")
      error("boom", 0)
    end)
    expect(ok).to_be(false)
    expect(err).to_equal("boom")
    expect(db:first("SELECT count(*) AS n FROM t").n).to_equal(1)
    db:transaction(function()
      db:run("INSERT INTO t (name) VALUES ('c')")
      pcall(db.transaction, db, function() db:run("INSERT INTO t (name) VALUES ('d')") error("inner") end)
    end)
    expect(db:first("SELECT group_concat(name) AS names FROM t").names).to_equal("a,c")
  end)

  it("forget drops a handle without closing it; close is idempotent", function()
    local other = sqlite.open(path)
    local raw = other._db
    other:forget()
    expect(other:is_open()).to_be(false)
    other:close()
    other._db = raw     -- this test's own cleanup: close the handle forget left open
    other:close()
    expect(db:first("SELECT 1 AS one").one).to_equal(1)
  end)

  it("caches statements per SQL string", function()
    for i = 1, 50 do db:run("INSERT INTO t (name) VALUES (?)", "n" .. i) end
    expect(db:first("SELECT count(*) AS n FROM t").n).to_equal(50)
  end)
end)
