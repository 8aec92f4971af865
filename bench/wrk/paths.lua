-- wrk script for script/bench: requests the paths listed in the file
-- $WRK_PATHS, one per line, in turn until the run's duration ends.
-- With WRK_ONCE=1 (one-time download links), each of the $WRK_THREADS
-- threads takes every $WRK_THREADS-th line, so that no path is requested
-- twice, and stops once it has received responses to all but $WRK_MARGIN
-- of them: the
-- margin is left for the requests still in flight when it stops.
-- done() prints one JSON line with the counts and latency percentiles.

local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local threads = tonumber(os.getenv("WRK_THREADS"))
   local margin = tonumber(os.getenv("WRK_MARGIN") or "0")
   once = os.getenv("WRK_ONCE") == "1"
   paths = {}
   local line_number = 0
   for line in io.lines(os.getenv("WRK_PATHS")) do
      if not once or line_number % threads == id then
         paths[#paths + 1] = line
      end
      line_number = line_number + 1
   end
   limit = #paths - margin
   index = 0
   answered = 0
end

function request()
   index = index + 1
   if index > #paths then
      index = 1
   end
   return wrk.format("GET", paths[index])
end

function response(status, headers, body)
   answered = answered + 1
   if once and answered >= limit then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,' ..
      '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"errors_connect":%d,' ..
      '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, errors.connect, errors.read, errors.write,
      errors.status, errors.timeout))
end
