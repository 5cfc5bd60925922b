-- wrk script for tests/bench/bench_relay.py: POSTs 1 KiB-text envelopes to /v1/messages,
-- each with a unique id (run tag, thread number, counter), as the bench peer.
-- Usage: wrk -s wrk_post.lua URL -- TOKEN FROM TO [RUN_TAG]

local threads = 0

-- Runs in the main Lua state, once per thread, before init.
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

local text = string.rep("0123456789abcdef", 64) -- 1024 bytes
local head, tail
local n = 0

function init(args)
	local token, from, to = args[1], args[2], args[3]
	local tag = args[4] or tostring(os.time())
	assert(token and from and to, "usage: -- TOKEN FROM TO [RUN_TAG]")
	wrk.method = "POST"
	wrk.path = "/v1/messages"
	wrk.headers["Authorization"] = "Bearer " .. token
	wrk.headers["Content-Type"] = "application/json"
	head = '{"v":1,"id":"b' .. tag .. "-" .. tid .. "-"
	tail = '","from":"' .. from .. '","to":"' .. to .. '","text":"' .. text .. '"}'
end

function request()
	n = n + 1
	return wrk.format(nil, nil, nil, head .. n .. tail)
end
