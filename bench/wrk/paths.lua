-- wrk script for script/bench: requests the paths listed in the file
-- $WRK_PATHS, one per line, each thread taking every $WRK_THREADS-th line.
-- A thread that has answered every one of its paths stops, so that one-time
-- download links are each requested once; a thread keeps a margin of
-- $WRK_MARGIN paths unused for the requests still in flight when it stops.
-- The paths of a file of repeatable requests (one /access path, say) are
-- requested in turn until the run's duration ends.
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
      if line_number % threads == id then
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
