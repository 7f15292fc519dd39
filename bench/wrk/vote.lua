-- POST /vote/ over the posts whose ids are in the file named by the first argument (one id a line):
-- dir 1 on each in turn, then dir 0 on each, and so on, so that every request is a real 201 as long
-- as the voter starts the run with no votes (bench/throughput.py deletes them before each run).
local post_ids = {}
local sent = 0

function init(args)
  for line in io.lines(args[1]) do
    post_ids[#post_ids + 1] = line
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local pass = math.floor(sent / #post_ids)
  local post_id = post_ids[sent % #post_ids + 1]
  sent = sent + 1
  return wrk.format(nil, nil, nil, '{"post_id":' .. post_id .. ',"dir":' .. (1 - pass % 2) .. '}')
end
