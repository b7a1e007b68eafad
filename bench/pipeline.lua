-- pipeline.lua: HTTP/1.1 pipelining for wrk, TechEmpower style.
--
--   wrk -t1 -c64 -d5s --latency -s bench/pipeline.lua http://127.0.0.1:8090/plaintext -- 16
--
-- Every write carries DEPTH (default 16) copies of the request for the URL
-- given to wrk.  wrk counts the requests in that buffer once at start-up and
-- then waits for that many responses before it writes the next batch, so
-- "requests" and "Requests/sec" in its output count responses, one per
-- request.  Latency is per response, measured from the batch's write.

local depth = 16

init = function(args)
  if args[1] ~= nil then
    depth = tonumber(args[1]) or depth
  end
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  batch = table.concat(r)
end

request = function()
  return batch
end
