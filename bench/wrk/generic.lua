-- wrk script: POST /v1/hooks/calls/generic with a realistic call ended event,
-- a new event and call id on every request (no duplicates for the fold to
-- drop). The ingest key comes from CF_BENCH_KEY.
local key = os.getenv("CF_BENCH_KEY")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  prefix = string.format("bench-%d-%d", tid, math.random(1, 1000000000))
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"event_id":"%s-%d","clinic_id":"demo-center","call_id":"%s-%d","event":"ended",' ..
    '"time":"2026-11-20T09:01:00Z","direction":"inbound","from":"+7916%07d",' ..
    '"to":"+74950000301","started_at":"2026-11-20T09:00:00Z","answered_at":"2026-11-20T09:00:08Z",' ..
    '"talk_seconds":52,"agent_id":"op-7","agent_group":"reception",' ..
    '"recording_url":"https://pbx.example/rec/%s-%d.mp3"}',
    prefix, counter, prefix, counter, counter % 10000000, prefix, counter)
  return wrk.format("POST", "/v1/hooks/calls/generic",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
