-- Workload for lua under vessel exec / qemu-riscv64: recursion, string
-- ops, table sorts, closures, coroutines, floating point formatting.
-- Usage: lua work.lua [SCALE]   (SCALE 1 takes about a second under qemu)
local scale = tonumber(arg[1] or "1")
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print("fib", fib(20 + math.floor(2 * math.log(scale, 2) + 0.5)))

-- deterministic LCG
local seed = 12345
local function rnd(m) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % m end

-- table sorts: numbers, strings, custom comparator
local n = 20000 * scale
local t = {}
for i = 1, n do t[i] = rnd(1000000) end
table.sort(t)
local s = 0
for i = 1, n, 97 do s = s + t[i] * i end
print("sort ints", t[1], t[n], s)
local words = {}
for i = 1, n // 4 do
  local w = {}
  for j = 1, 3 + rnd(8) do w[j] = string.char(97 + rnd(26)) end
  words[i] = table.concat(w)
end
table.sort(words, function(a, b) if #a ~= #b then return #a > #b end return a < b end)
print("sort strings", words[1], words[#words], #words)

-- string ops
local parts = {}
for i = 1, 2000 * scale do parts[#parts + 1] = string.format("%d:%x:%.3f", i, i * 7, i / 7) end
local str = table.concat(parts, ",")
local cnt = select(2, str:gsub("%d+:", ""))
local up = str:sub(1, 200):upper():gsub("[AEIOU]", "#")
print("strings", #str, cnt, up:sub(1, 60))
local found = 0
for a, b in str:gmatch("(%d+):(%x+)") do if tonumber(b, 16) % 3 == 0 then found = found + 1 end end
print("gmatch", found, string.rep("ab", 5, "-"), ("%q"):format("x\n\0y"))

-- closures and coroutines
local function counter() local c = 0 return function() c = c + 1 return c end end
local cs = {}
for i = 1, 100 do cs[i] = counter() end
local tot = 0
for r = 1, 50 * scale do for i = 1, 100 do tot = tot + cs[i]() end end
print("closures", tot)
local co = coroutine.wrap(function() for i = 1, 10000 * scale do coroutine.yield(i * i) end end)
local acc = 0
for _ = 1, 10000 * scale do acc = (acc + co()) % 1000000007 end
print("coroutines", acc)

-- floating point
local x, y = 0.0, 1.0
for i = 1, 100000 * scale do x = x + math.sin(i) * math.sqrt(i) / (1 + y); y = y * 1.0000001 end
print("float", string.format("%.17g %.17g %.17g %a", x, y, math.exp(1) ^ 0.5, 1 / 3))
print("math", math.floor(-3.5), math.ceil(-3.5), 7 // -2, 7 % -2, -7 % 2.5, math.tointeger(2 ^ 53), 1e308 * 10, -(0 / 0) ~= -(0 / 0))
print("integers", math.maxinteger + 1 == math.mininteger, 5 // 0.0, -5 // 0.0, 3 & 5 | 8 ~ 1, 1 << 63, -1 >> 1)

-- file I/O: write, seek, read back, remove
local name = os.tmpname()
local f = assert(io.open(name, "w+b"))
for i = 1, 5000 * scale do f:write(string.format("%06d|%s\n", i, string.rep(string.char(65 + i % 26), i % 40))) end
f:seek("set", 0)
local lines, bytes, sum = 0, 0, 0
for l in f:lines() do lines = lines + 1; bytes = bytes + #l; sum = (sum * 31 + l:byte(-1)) % 1000003 end
local size = f:seek("end")
f:close()
assert(os.remove(name))
print("file", lines, bytes, size, sum, io.open(name) == nil)
