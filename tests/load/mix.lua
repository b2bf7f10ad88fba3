-- wrk script for the load test (tests/e2e/test_load.py writes its inputs and reads its report).
--
-- Arguments: the folder the test prepared, holding
--   requests.tsv   one request per line: METHOD <tab> PATH <tab> BODY ("-" for none); a request
--                  meant to be sent more often is listed more often
--   expected/*     every answer a request may get, normalised (see `normalise`)
--   token          the bearer token
--   every          check one answer in this many (answers are checked against `expected`)
-- Each connection sends the requests in turn. At the end it prints one JSON line (REPORT ...)
-- with the counts by status, the answers checked and the wrong ones, and the latency
-- percentiles.

local folder, lines, expected, token, every = nil, {}, {}, nil, 1
local threads = {}

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

-- Signed URLs and their expiry differ from one signing to the next; nothing else in an answer
-- may differ between two requests.
local function normalise(body)
  if body:sub(1, 1) ~= "{" then
    return body
  end
  body = body:gsub('"url":"[^"]*"', '"url":""')
  body = body:gsub('"expirationTimestamp":%d+', '"expirationTimestamp":0')
  return body
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  folder = args[1]
  token = read(folder .. "/token"):gsub("%s+$", "")
  every = tonumber(read(folder .. "/every"))
  for line in io.lines(folder .. "/requests.tsv") do
    local method, path, body = line:match("^(%S+)\t(%S+)\t(.*)$")
    local headers = { ["Authorization"] = "Bearer " .. token }
    if body == "-" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    table.insert(lines, wrk.format(method, path, headers, body))
  end
  local list = io.popen('ls "' .. folder .. '/expected"')
  for name in list:lines() do
    expected[read(folder .. "/expected/" .. name)] = true
  end
  list:close()
  statuses, checked, wrong, answered, no_retry_after = {}, 0, 0, 0, 0
  counter = 0
end

function request()
  counter = counter + 1
  return lines[(counter - 1) % #lines + 1]
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and not (headers["Retry-After"] or headers["retry-after"]) then
    no_retry_after = no_retry_after + 1
  end
  if status == 200 and answered % every == 0 then
    checked = checked + 1
    if not expected[normalise(body)] then
      wrong = wrong + 1
      if wrong <= 3 then
        io.stderr:write("WRONG ANSWER: " .. body:sub(1, 300) .. "\n")
      end
    end
  end
end

function done(summary, latency, requests)
  local by_status, checked_all, wrong_all, missing = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      by_status[tostring(status)] = (by_status[tostring(status)] or 0) + n
    end
    checked_all = checked_all + thread:get("checked")
    wrong_all = wrong_all + thread:get("wrong")
    missing = missing + thread:get("no_retry_after")
  end
  local parts = {}
  for status, n in pairs(by_status) do
    table.insert(parts, string.format('"%s":%d', status, n))
  end
  io.write(string.format(
    'REPORT {"requests":%d,"seconds":%.3f,"statuses":{%s},"checked":%d,"wrong":%d,' ..
    '"503_without_retry_after":%d,"socket_errors":%d,"timeouts":%d,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, table.concat(parts, ","), checked_all, wrong_all,
    missing, summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
