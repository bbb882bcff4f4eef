-- Shared by batch.lua and track.lua: realistic GrowthOS track events, each request with
-- fresh insert_ids, a browser user agent and an API key. Run by wrk (LuaJIT).
--
-- wrk ... -s batch.lua URL -- <api key> <run tag> <events per request>
-- The script prints one line "WRK_JSON {...}" with the totals when the run ends.

local M = {}

local EVENT_TYPES = {
  "page_view", "product_viewed", "product_added", "checkout_started", "order_completed",
  "signup", "login", "search", "button_clicked", "video_played",
}
local CATEGORIES = { "shoes", "jackets", "bags", "accessories", "sale", "new-in" }
local PLANS = { "free", "starter", "pro", "enterprise" }
local SOURCES = { "google", "newsletter", "direct", "twitter", "partner" }
local PATHS = { "/", "/products/sku_%d", "/cart", "/checkout", "/blog/post-%d", "/search" }
local REFERRERS = { "https://www.google.com/", "", "https://news.ycombinator.com/",
                    "https://t.co/abc", "https://shop.example.com/" }

M.UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
  .. "Gecko) Chrome/124.0.0.0 Safari/537.36"

local function pick(list, i) return list[(i % #list) + 1] end

-- One event as JSON text split around its insert_id: returns (before, after).
local function event_parts(i, now_ms)
  local user = 1 + (i * 7919) % 5000
  local path = string.format(pick(PATHS, i), 1000 + i % 900)
  local props = string.format(
    '{"product_id":"sku_%d","category":"%s","price":%d.%02d,"currency":"EUR",'
      .. '"position":%d,"list":"search results","in_stock":%s,"query":"running shoes %d"}',
    1000 + i % 900, pick(CATEGORIES, i), 10 + i % 190, i % 100, 1 + i % 24,
    (i % 5 == 0) and "false" or "true", i % 37)
  local uprops = string.format(
    '{"plan":"%s","signup_source":"%s","company_size":"11-50","beta":%s}',
    pick(PLANS, user), pick(SOURCES, user), (user % 3 == 0) and "true" or "false")
  local before = string.format(
    '{"event_type":"%s","user_id":"user_%d","device_id":"d%08x-4b1e-4c2a-9f3e-%012d",'
      .. '"session_id":"%d","time":%d,"insert_id":"',
    pick(EVENT_TYPES, i), user, user * 2654435761 % 4294967296, user,
    now_ms - 600000 + user, now_ms - (i % 1000) * 37)
  local after = string.format(
    '","event_properties":%s,"user_properties":%s,"url":"https://shop.example.com%s'
      .. '?utm_source=%s&utm_medium=email","referrer":"%s","library":"growthos-js/1.4.2"}',
    props, uprops, path, pick(SOURCES, i), pick(REFERRERS, i))
  return before, after
end

-- A pool of distinct events; each request takes `n` consecutive ones.
function M.pool(size, now_ms)
  local befores, afters = {}, {}
  for i = 1, size do
    befores[i], afters[i] = event_parts(i, now_ms)
  end
  return befores, afters
end

-- wrk hooks shared by both scripts ---------------------------------------------------------

local threads = {}

function M.setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function M.done(summary, latency, requests)
  local statuses = 0
  local non2xx = summary.errors.status
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"lat_p50_us":%d,"lat_p75_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,'
      .. '"lat_max_us":%d,"lat_mean_us":%.1f}',
    summary.requests, summary.duration, summary.bytes, non2xx, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean)
  io.write("WRK_JSON " .. out .. "\n")
end

return M
