"""A daemon of a fleet sharing one cache server (run_redis.py, run_postgres.py): its
configuration names the shared cache and its own local SQLite file, and its /metrics
endpoint tells the store errors by backend."""
import os
import re
import urllib.request

import harness
import procs
from harness import HOST


class FleetDaemon(harness.Daemon):
    def __init__(self, binary, workdir, name, world, cache_type, options, zone_timeout):
        """options: the cache's own option lines, as YAML under `options:` (no filename:
        every daemon of the fleet gets its local file NAME.db in the workdir)."""
        super().__init__(binary, workdir, name, query_timeout=zone_timeout + 6,
                         start_timeout=15, stop_timeout=15)
        self.metrics_port = procs.free_port(HOST)
        option_lines = "".join("    %s\n" % line for line in options)
        self.write_config(f"""\
control_socket: none
metrics: {{listen: "{HOST}:{self.metrics_port}"}}
cache:
  type: {cache_type}
  options:
{option_lines}    filename: {os.path.join(workdir, name + ".db")}
default_zone: {{timeout: {zone_timeout:g}}}
proactive_policy_fetching: {{enabled: false}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)

    def store_errors(self):
        """{(backend, operation): count} from /metrics (mtastsd_store_errors_total), or None
        when it cannot be read."""
        try:
            url = "http://%s:%d/metrics" % (HOST, self.metrics_port)
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode("utf-8")
        except OSError:
            return None
        found = {}
        for m in re.finditer(r'^mtastsd_store_errors_total\{backend="(\w+)",operation="(\w+)"\} '
                             r'(\d+)', text, re.M):
            found[(m.group(1), m.group(2))] = int(m.group(3))
        return found
