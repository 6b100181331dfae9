-- wrk script: a fixed request rate (wrk alone only measures "as fast as possible").
--   wrk -t1 -c50 -d5s -s wrk-paced.lua http://127.0.0.1:8080/ -- 4000
-- Every time a connection is ready to send, delay() hands it the next free slot of one schedule shared by
-- the thread's connections (slot n is at start + n/rate), as wrk2 does: the server sees an even rate
-- whatever its latency, as long as some connection is free. wrk's timers have 1 ms resolution, so
-- rate/1000 requests leave together each millisecond. Latency is wrk's own: from when a request is
-- written to when its response is complete. If the schedule ever falls more than 100 ms behind (the
-- server cannot keep up, every connection is busy), the slots restart from now and "late" counts it.
-- Use with -t1 (the rate is per thread).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } zdd_bench_timespec;
int clock_gettime(int clk_id, zdd_bench_timespec *tp);
]]
local ts = ffi.new("zdd_bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval = 1
local next_slot = nil
late = 0

function init(args)
  interval = 1000 / tonumber(args[1] or "1000")
end

function delay()
  local t = now_ms()
  if next_slot == nil then next_slot = t end
  local slot = next_slot
  next_slot = next_slot + interval
  if slot <= t then
    if t - slot > 100 then
      late = late + 1
      next_slot = t + interval
    end
    return 0
  end
  return math.floor(slot - t + 0.5)
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local l = 0
  for _, t in ipairs(threads) do l = l + (t:get("late") or 0) end
  local e = summary.errors
  io.write(string.format(
    "PACED requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d late=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.connect, e.read, e.write, e.status, e.timeout, l))
end
