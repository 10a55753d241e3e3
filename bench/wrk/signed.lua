-- wrk script: replays pre-signed provider webhooks from CF_BENCH_FILE, one
-- per line as "<signature>\t<path>\t<form body>", in turn per thread.
local file = os.getenv("CF_BENCH_FILE")
local header = os.getenv("CF_BENCH_SIG_HEADER") or "X-Twilio-Signature"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  reqs = {}
  local n = 0
  for line in io.lines(file) do
    n = n + 1
    -- each thread takes every other line, so no two send the same event
    if n % 2 == tid % 2 then
      local sig, path, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path,
        {["Content-Type"] = "application/x-www-form-urlencoded", [header] = sig}, body)
    end
  end
  i = 0
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
