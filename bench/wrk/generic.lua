-- wrk script: POST /v1/hooks/calls/generic with a realistic call ended event,
-- a new event and call id on every request (no duplicates for the fold to
-- drop), and a caller of its own (each wrk thread has its own numbers: two
-- threads calling from the same numbers at the same moments would make
-- every contact a repeat caller, serialized on its contact's lock). One
-- call in five is missed (the seeds' clinics miss 10-30%), so
-- the fold's bench also opens a callback task for a fifth of the calls.
-- The ingest key comes from CF_BENCH_KEY.
local key = os.getenv("CF_BENCH_KEY")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

-- Dated a minute ago, so that the tasks the missed calls open are not
-- already past their lost-after period (the sweeper would expire them
-- while the fold is measured).
local function utc(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function init(args)
  prefix = string.format("bench-%d-%d", tid, math.random(1, 1000000000))
  counter = 0
  local now = os.time()
  started, answered, ended = utc(now - 120), utc(now - 112), utc(now - 60)
end

function request()
  counter = counter + 1
  local outcome
  if counter % 5 == 0 then
    outcome = '"outcome":"missed","ring_seconds":25'
  else
    outcome = '"answered_at":"' .. answered .. '","talk_seconds":52,"agent_id":"op-7",' ..
      '"agent_group":"reception"'
  end
  local body = string.format(
    '{"event_id":"%s-%d","clinic_id":"demo-center","call_id":"%s-%d","event":"ended",' ..
    '"time":"%s","direction":"inbound","from":"+791%d%07d",' ..
    '"to":"+74950000301","started_at":"%s",%s,' ..
    '"recording_url":"https://pbx.example/rec/%s-%d.mp3"}',
    prefix, counter, prefix, counter, ended, tid % 10, counter % 10000000, started, outcome, prefix,
    counter)
  return wrk.format("POST", "/v1/hooks/calls/generic",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
