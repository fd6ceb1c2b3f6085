"""Bounded concurrent entry requests against a live server, as an invoicing program makes
them: each entry under a fresh UUID, retried under that same UUID after a failure or a 503
until it is answered 200, and every answer that a client must not get counted."""
import collections
import random
import threading
import time
import uuid
from dataclasses import dataclass

import requests

REQUEST_TIMEOUT = 10  # seconds: an answer later than this is a hang
RETRY_PAUSE = 0.05  # seconds between two tries of one entry (Retry-After says 1: we hurry)


@dataclass(frozen=True)
class Acknowledged:
    """An entry answered 200: what the client now holds as issued."""

    series_id: str
    entry_id: str
    code: str  # the number, with the series' prefix, padding and suffix
    sent_at: float  # time.monotonic() when the try that got the 200 was sent


class EntryLoad:
    """``threads`` clients issuing entries on ``series_ids`` from ``start()`` to ``stop()``.

    ``outcomes`` counts every answer by kind: ``200``, ``503`` (JSON, with Retry-After),
    and the unacceptable ones, ``connection error`` (no answer from gunicorn), ``hang``
    (no answer in REQUEST_TIMEOUT) and ``<status>`` for any other."""

    def __init__(self, base_url, api_key, series_ids, threads=8, give_up_at=None):
        self.base_url, self.series_ids = base_url, series_ids
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.give_up_at = give_up_at or time.monotonic() + 60
        self.acknowledged, self.unresolved = [], []
        self.outcomes = collections.Counter()
        self.details = []  # a few unacceptable answers, for the failure message
        self._lock, self._stopping = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(index,), daemon=True)
                         for index in range(threads)]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        """Ask the clients to stop, and wait until each has its last entry answered."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=max(self.give_up_at - time.monotonic(), 0) + REQUEST_TIMEOUT)
        return not any(thread.is_alive() for thread in self._threads)

    def acknowledged_count(self):
        with self._lock:
            return len(self.acknowledged)

    def _client(self, index):
        chooser = random.Random(index)  # noqa: S311 (which series: no secret)
        while not self._stopping.is_set() and time.monotonic() < self.give_up_at:
            self._issue(chooser.choice(self.series_ids), str(uuid.uuid4()))

    def _issue(self, series_id, entry_id):
        """Ask for the entry until it is answered 200, or the load's time is up."""
        url = f"{self.base_url}/sequence/v1/series/{series_id}/entries/{entry_id}"
        while time.monotonic() < self.give_up_at:
            sent_at = time.monotonic()
            kind, body = self._try(url)
            with self._lock:
                self.outcomes[kind] += 1
                if kind == "200":
                    self.acknowledged.append(Acknowledged(
                        series_id, entry_id, body["code"], sent_at))
                    return
            time.sleep(RETRY_PAUSE)
        with self._lock:
            self.unresolved.append((series_id, entry_id))

    def _try(self, url):
        try:
            response = requests.put(url, headers=self.headers, timeout=REQUEST_TIMEOUT)
        except requests.Timeout:
            return self._unacceptable("hang", url)
        except requests.ConnectionError as error:
            return self._unacceptable("connection error", f"{url}: {error}")
        if response.status_code == 200:
            return "200", response.json()
        if (response.status_code == 503 and response.headers.get("Retry-After")
                and response.headers.get("Content-Type", "").startswith("application/json")):
            return "503", None
        return self._unacceptable(str(response.status_code), response.text[:300])

    def _unacceptable(self, kind, detail):
        with self._lock:
            if len(self.details) < 10:
                self.details.append(f"{kind}: {detail}")
        return kind, None
