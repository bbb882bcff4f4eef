-- Single-event ingest: POST /v1/track with one event object and a unique insert_id.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local ev = require("events")

local POOL = 1000
local counter = 0
local befores, afters, tag
local pause = 0

setup = ev.setup
done = ev.done

function init(args)
  wrk.headers["X-API-Key"] = args[1]
  tag = args[2] .. "-" .. tostring(tid)
  pause = tonumber(args[3] or "0")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = ev.UA
  befores, afters = ev.pool(POOL, os.time() * 1000)
end

-- Paced runs (args[3] > 0): see batch.lua.
function delay()
  return pause
end

function request()
  counter = counter + 1
  local idx = (counter % POOL) + 1
  return wrk.format("POST", "/v1/track", nil, befores[idx] .. tag .. "-" .. counter .. afters[idx])
end
