-- Creates deploy tokens: POST /v1/apps/web/tokens as $CALLER.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CALLER")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench", "expires_in": "30d"}'
