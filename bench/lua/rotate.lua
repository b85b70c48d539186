-- Rotates through the tokens in $TOKENS (one per line) as Authorization: Bearer headers.
-- MODE=get (default) sends GET to the path given to wrk; MODE=introspect POSTs each token as
-- the form body of /v1/oauth/introspect, authenticated with $CALLER.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local mode = os.getenv("MODE") or "get"
local caller = os.getenv("CALLER")
local i = 0

function setup(thread)
  thread:set("offset", math.random(#tokens))
end

function request()
  i = i + 1
  local t = tokens[((i + (offset or 0)) % #tokens) + 1]
  if mode == "introspect" then
    return wrk.format("POST", "/v1/oauth/introspect", {
      ["Authorization"] = "Bearer " .. caller,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "token=" .. t)
  end
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. t })
end
