-- A cycle of three logins on three devices, then logoutFromAllDevices with
-- the last token. Each wrk thread works on its own seeded user; its
-- connections share one Lua state (wrk has no per-connection state), so a
-- logout can overtake a call still carrying an older token, which then gets
-- 209: a rare non-2xx in this scenario is that race, not a fault.
local app = os.getenv("APP_ID")
local password = os.getenv("PASSWORD")
local prefix = os.getenv("USER_PREFIX")
local users = tonumber(os.getenv("USERS"))
-- Another wrk process (a second node's) starts its threads past this one's.
local offset = tonumber(os.getenv("USER_OFFSET") or "0")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  step = 0
  token = nil
  user = prefix .. ((id - 1 + offset) % users)
end

function request()
  local headers = { ["X-Parse-Application-Id"] = app, ["Content-Type"] = "application/json" }
  if step < 3 or token == nil then
    headers["X-Parse-Installation-Id"] = "device-" .. step
    local body = string.format('{"username":"%s","password":"%s"}', user, password)
    return wrk.format("POST", "/parse/login", headers, body)
  end
  headers["X-Parse-Session-Token"] = token
  return wrk.format("POST", "/parse/functions/logoutFromAllDevices", headers, "{}")
end

function response(status, headers, body)
  if step < 3 then
    token = string.match(body, '"sessionToken":"(r:[0-9a-f]+)"') or token
  end
  step = (step + 1) % 4
end
