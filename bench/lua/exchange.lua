-- RFC 8693 token exchanges: POST /v1/oauth/token with each ID token of a file once.
-- wrk … -s bench/lua/exchange.lua URL -- FILE FIRST COUNT
-- Thread k of T sends lines FIRST+k, FIRST+k+T, … below FIRST+COUNT (1-based lines), then
-- an empty subject token (refused, counted apart): no ID token is sent twice.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local file, first, count = args[1], tonumber(args[2]), tonumber(args[3])
  jwts = {}
  local i = 0
  for line in io.lines(file) do
    i = i + 1
    if i >= first and i < first + count then
      jwts[#jwts + 1] = line
    end
  end
  step = #threads > 0 and #threads or 2
  next_index = id
  ok = 0
  refused = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local jwt = jwts[next_index] or ""
  next_index = next_index + step
  return wrk.format(nil, "/v1/oauth/token", nil,
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" ..
    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token" ..
    "&resource=web&subject_token=" .. jwt)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_refused = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_refused = total_refused + t:get("refused")
  end
  io.write(string.format("exchanged %d refused %d seconds %.3f p99_ms %.2f\n",
    total_ok, total_refused, summary.duration / 1e6, latency:percentile(99) / 1000))
end
