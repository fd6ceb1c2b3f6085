"""Calls to AT made side by side, in a small thread pool, with every result kept."""
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

_SKIPPED = object()


def concurrently(function, items, workers, stop_on_error=False):
    """Yield (item, result) as each call completes; an exception is yielded as the result.

    With ``stop_on_error``, once a call fails no further call starts (each checks before
    it would reach AT), and the calls that did not run are yielded with None. Every call
    that started is waited for, so no result is ever dropped. The calls run in threads of
    their own, outside the caller's database session: the Tax Authority's transaction
    guard checks each of them in the thread that makes it.
    """
    if not items:
        return
    stop = threading.Event()

    def run(item):
        if stop.is_set():
            return _SKIPPED
        try:
            return function(item)
        except BaseException:
            if stop_on_error:
                stop.set()
            raise

    with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                            thread_name_prefix="invx-at") as pool:
        futures = {pool.submit(run, item): item for item in items}
        for future in as_completed(futures):
            error = future.exception()
            result = error if error is not None else future.result()
            yield futures[future], None if result is _SKIPPED else result
