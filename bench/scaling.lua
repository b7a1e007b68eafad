-- scaling.lua: one fixed request for wrk, described by the environment
-- (bench/scaling.py sets it):
--   SCALE_METHOD  GET or POST
--   SCALE_BODY    a file whose content is the body (JSON), or empty
--   SCALE_AUTH    a bearer token, or empty
-- The path is wrk's URL.  The request is formatted once, at start-up.
local req
init = function(args)
  local method = os.getenv("SCALE_METHOD") or "GET"
  local body, headers = nil, {}
  local f = os.getenv("SCALE_BODY")
  if f and #f > 0 then
    local h = assert(io.open(f, "rb"))
    body = h:read("*a")
    h:close()
    headers["Content-Type"] = "application/json"
  end
  local tok = os.getenv("SCALE_AUTH")
  if tok and #tok > 0 then
    headers["Authorization"] = "Bearer " .. tok
  end
  req = wrk.format(method, nil, headers, body)
end
request = function()
  return req
end
