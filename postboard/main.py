"""`uvicorn postboard.main:app`: the app as configured by the environment, in a process that serves it."""

import gc

from postboard.app import create_app
from postboard.config import Settings

# Collections of the young generation happen after this many more allocations than deallocations. The
# default, 700, collected every few requests, and each full collection walked every object the process
# had built at start: 17% of the time under load. Frozen, those objects are no longer walked; a higher
# threshold still collects reference cycles, only in larger batches.
GARBAGE_COLLECTION_THRESHOLD = 50_000

app = create_app(Settings())
gc.collect()
gc.freeze()
gc.set_threshold(GARBAGE_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
