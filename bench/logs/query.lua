-- wrk script of bench/logs.sh: each request GETs a path picked at random
-- from the file named by the first script argument (one path a line, made by
-- `logsbench.py paths`), with a seed per thread from the second (optional).
--   wrk -t1 -c1 -d5s --latency -s query.lua http://127.0.0.1:PORT -- paths.txt 7
local paths = {}

function init(args)
  local file = args[1] or error("query.lua: no paths file (wrk ... -- FILE)")
  for line in io.lines(file) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("query.lua: no paths in " .. file) end
  math.randomseed(tonumber(args[2] or "1"))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
