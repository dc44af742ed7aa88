"""One sync of a replica, in its own process, so its peak memory can be read alone.

Prints one JSON line: the sync report, the seconds the sync itself took (imports and opening
excluded), and the process's peak resident set size (``ru_maxrss``, KiB on Linux)::

    python -m bench.pull_client --url http://127.0.0.1:8000 --token T --db /tmp/r.db [--create]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pull_client")
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--create", action="store_true", help="make a new replica")
    ap.add_argument("--page-limit", type=int, default=None)
    args = ap.parse_args(argv)

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_import = time.perf_counter()
    from local_db.replica import Replica
    from sync.client import SyncClient
    from sync.engine import sync

    imports = time.perf_counter() - t_import
    rss_imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    replica = Replica.open(args.db, create=args.create)
    try:
        with SyncClient(args.url, args.token) as client:
            start = time.perf_counter()
            report = sync(replica, client, page_limit=args.page_limit)
            seconds = time.perf_counter() - start
    finally:
        replica.close()
    out = {
        "seconds": seconds,
        "import_seconds": imports,
        "report": report.as_dict(),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_at_start_kib": rss_start,
        "rss_after_imports_kib": rss_imported,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
