-- POST /posts/ with the same small published post each time: every request creates a post (201).
wrk.method = "POST"
wrk.body = '{"title":"A benchmark post","content":"Written by bench/throughput.py.","published":true}'
wrk.headers["Content-Type"] = "application/json"
