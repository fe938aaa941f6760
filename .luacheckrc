-- luacheck settings for the Lua layer and the apps.
std = "luajit"
max_line_length = 120
exclude_files = { "build/", ".luarocks/", "lua_modules/" }
