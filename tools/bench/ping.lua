-- wrk script for `make bench-http`: POST /api/nostr ping with one access token (the argument after `--`): the HTTP
-- path with authentication and no crypto, the floor under sign_event.
local token

function init(args)
    token = args[1]
end

function request()
    return wrk.format("POST", "/api/nostr", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
        '{"method":"ping"}')
end
