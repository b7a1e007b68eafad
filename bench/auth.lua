-- auth.lua: requests carrying "Authorization: Bearer <token>" for wrk.
--
--   wrk -t1 -c64 -d5s -s bench/auth.lua http://127.0.0.1:8090/json-auth -- TOKENS_FILE [DEPTH]
--
-- TOKENS_FILE holds one token per line.  Requests use them in turn (one
-- shared rotation: with N tokens, each comes back every N requests), so one
-- line means "the same token every time" and many lines mean "a token not
-- seen for N requests".  Every request is formatted at start-up; request()
-- only picks the next one, at the same cost whatever the file holds.
-- DEPTH > 1 pipelines: each write carries DEPTH requests with the next DEPTH
-- tokens (wrk counts them once at start-up and waits for as many responses).

local reqs, n, i = {}, 0, 0

init = function(args)
  local depth = tonumber(args[2] or "1") or 1
  local toks = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      toks[#toks + 1] = line
    end
  end
  -- batch k carries tokens (k-1)*depth+1 .. k*depth: batches do not overlap,
  -- so a token still comes back only every #toks requests
  for k = 1, math.max(1, math.ceil(#toks / depth)) do
    local batch = {}
    for d = 0, depth - 1 do
      local t = toks[((k - 1) * depth + d) % #toks + 1]
      batch[#batch + 1] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. t })
    end
    reqs[k] = table.concat(batch)
  end
  n = #reqs
end

request = function()
  i = i % n + 1
  return reqs[i]
end
