-- wrk script: POST /v1/hooks/leads/generic/<channel> with a site form as
-- JSON: a person's name, phone, e-mail, comment and the ad tags a landing
-- page passes on. Each request is a new submission; one in four repeats
-- the contact of the submission two before it on the same thread (the
-- same person twice: the fold merges it into that person's open lead),
-- the others are new people (each wrk thread has its own numbers, so no
-- two threads write as the same person at the same moment).
-- CF_BENCH_CHANNEL names the channel, CF_BENCH_TOKEN is its token.
local channel = os.getenv("CF_BENCH_CHANNEL") or "bench-form"
local token = os.getenv("CF_BENCH_TOKEN") or "none"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  prefix = string.format("%d-%d", tid, math.random(1, 1000000000))
  counter = 0
  person = 0
  recent = {}
  path = "/v1/hooks/leads/generic/" .. channel
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
end

local services = {"implants", "hygiene", "whitening", "braces", "checkup"}
local campaigns = {"implants-2026", "hygiene-2026", "whitening-spring"}

function request()
  counter = counter + 1
  local p
  if counter % 4 == 0 and recent[2] then
    p = recent[2] -- the same person again: a merge
  else
    person = person + 1
    p = person
  end
  recent[2], recent[1] = recent[1], p
  local body = string.format(
    '{"name":"Bench Person %s-%d","phone":"+791%d%07d","email":"p%s-%d@example.org",' ..
    '"comment":"Hello, I would like an appointment for %s next week, mornings if possible.",' ..
    '"service":"%s","consent":"on","utm_source":"yandex","utm_medium":"cpc",' ..
    '"utm_campaign":"%s","utm_content":"ad-%d","yclid":"%s%d",' ..
    '"page_url":"https://clinic.example/implants?utm_source=yandex&utm_medium=cpc",' ..
    '"referrer":"https://yandex.ru/"}',
    prefix, p, tid % 10, p % 10000000, prefix, p, services[p % 5 + 1], services[p % 5 + 1],
    campaigns[p % 3 + 1], p % 100, prefix, counter)
  return wrk.format("POST", path, headers, body)
end
