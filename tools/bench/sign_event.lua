-- wrk script for `make bench-http`: POST /api/nostr sign_event with one access token (the argument after `--`),
-- each request a different note, so every request is a full signature.
local token
local counter = 0

function init(args)
    token = args[1]
    -- Threads start with the same counter; keep their notes apart.
    counter = math.random(1, 1000000000) * 1000000
end

function request()
    counter = counter + 1
    local body = '{"method":"sign_event","params":[{"kind":1,"content":"bench ' .. counter
        .. '","tags":[],"created_at":1700000000}]}'
    return wrk.format("POST", "/api/nostr", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
