-- wrk script: POST /v1/hooks/leads/telegram/<channel> with Bot API updates
-- as Telegram sends them (X-Telegram-Bot-Api-Secret-Token): a new
-- update_id on every request, and a user per update, with one update in
-- four from the user of the update two before it on the same thread (a
-- second message from the same person: a merge). One in five shares the
-- user's contact (a phone) instead of text. Each wrk thread has its own
-- users and update ids. CF_BENCH_CHANNEL names the channel, CF_BENCH_SECRET
-- is its secret token.
local channel = os.getenv("CF_BENCH_CHANNEL") or "bench-telegram"
local secret = os.getenv("CF_BENCH_SECRET") or "none"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  -- update ids and user ids stay below 2^53 (Lua numbers are doubles)
  base = tid * 1000000000000 + math.random(1, 100000) * 1000000
  counter = 0
  person = 0
  recent = {}
  date = os.time() - 5
  path = "/v1/hooks/leads/telegram/" .. channel
  headers = {["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = secret}
end

function request()
  counter = counter + 1
  local p
  if counter % 4 == 0 and recent[2] then
    p = recent[2] -- the same user again: a merge
  else
    person = person + 1
    p = person
  end
  recent[2], recent[1] = recent[1], p
  local user = string.format('{"id":%d,"is_bot":false,"first_name":"Bench","last_name":"User %d",' ..
    '"username":"bench_user_%d_%d","language_code":"ru"}', base + p, p, tid, base + p)
  local content
  if counter % 5 == 0 then
    content = string.format('"contact":{"phone_number":"792%d%07d","first_name":"Bench",' ..
      '"last_name":"User %d","user_id":%d}', tid % 10, p % 10000000, p, base + p)
  else
    content = '"text":"Здравствуйте! Сколько стоит имплантация зуба под ключ? Можно записаться на ' ..
      'консультацию в субботу?"'
  end
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":%d,"from":%s,"chat":{"id":%d,"first_name":"Bench",' ..
    '"last_name":"User %d","username":"bench_user_%d_%d","type":"private"},"date":%d,%s}}',
    base + counter, counter, user, base + p, p, tid, base + p, date, content)
  return wrk.format("POST", path, headers, body)
end
