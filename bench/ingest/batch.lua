-- Batched ingest: POST /v1/track {"events": [N events]} with unique insert_ids.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local ev = require("events")

local POOL = 1000
local counter = 0
local befores, afters, n, tag
local pause = 0

setup = ev.setup
done = ev.done

function init(args)
  wrk.headers["X-API-Key"] = args[1]
  tag = args[2] .. "-" .. tostring(tid)
  n = tonumber(args[3] or "100")
  pause = tonumber(args[4] or "0")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = ev.UA
  befores, afters = ev.pool(POOL, os.time() * 1000)
end

local pieces = {}

-- Paced runs (args[4] > 0): each connection waits this many ms after an answer before its
-- next request, so the offered rate is about connections * 1000 / (pause + latency).
function delay()
  return pause
end

function request()
  counter = counter + 1
  local prefix = tag .. "-" .. counter .. "-"
  local offset = (counter * n) % POOL
  pieces[1] = '{"events":['
  local k = 2
  for j = 1, n do
    local idx = ((offset + j) % POOL) + 1
    if j > 1 then pieces[k] = ","; k = k + 1 end
    pieces[k] = befores[idx]
    pieces[k + 1] = prefix .. j
    pieces[k + 2] = afters[idx]
    k = k + 3
  end
  pieces[k] = "]}"
  for m = k + 1, #pieces do pieces[m] = nil end
  return wrk.format("POST", "/v1/track", nil, table.concat(pieces))
end
