-- Rotates through the tokens in $TOKENS (one per line) as Authorization: Bearer headers.
-- MODE=get (default) sends GET to the path given to wrk; MODE=introspect POSTs each token as
-- the form body of /v1/oauth/introspect, authenticated with $CALLER.
--
-- Every request is built once, in init (before wrk starts its clock), so sending one costs a
-- table lookup: building it per request allocated strings for each distinct token, and with
-- 100,000 tokens (against 1,000) that garbage made the client, not the server, slower.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local mode = os.getenv("MODE") or "get"
local caller = os.getenv("CALLER")
local requests = {}
local i = 0

function init(args)
  for k, t in ipairs(tokens) do
    if mode == "introspect" then
      requests[k] = wrk.format("POST", "/v1/oauth/introspect", {
        ["Authorization"] = "Bearer " .. caller,
        ["Content-Type"] = "application/x-www-form-urlencoded",
      }, "token=" .. t)
    else
      requests[k] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. t })
    end
  end
  tokens = nil
  collectgarbage()
end

function setup(thread)
  thread:set("offset", math.random(100000))
end

function request()
  i = i + 1
  return requests[((i + (offset or 0)) % #requests) + 1]
end
