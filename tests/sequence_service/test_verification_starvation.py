"""Under gunicorn's gevent worker (production, on PostgreSQL), verifications leave the
worker's other requests their turn: GET /keys is answered quickly while four run."""
import threading
import time
import uuid

import requests

from bench.signed_series import append
from invx.config import settings_of

from ..support.postgres import requires_postgres
from ..support.sequence_service import put_series

ENTRIES = 5000  # about 0.5 s of checks per verification: 2 s for four, in one worker
SLOWEST_KEYS_ANSWER = 0.25  # seconds: 20-70 ms here; 0.3 to 1.5 s before verifications paused


@requires_postgres
def test_a_request_is_answered_quickly_while_four_verifications_run(
        app, client, auth, live_server):
    # Four series, so that each verification checks all of its own (no checkpoint yet).
    series = [str(uuid.uuid4()) for _ in range(4)]
    for series_id in series:
        put_series(client, auth, series_id)
        with app.app_context():
            append(series_id, ENTRIES, settings_of(app).secret_key)
    server = live_server(workers=1, INVX_VERIFY_MAX_ENTRIES=ENTRIES, INVX_VERIFY_SECONDS=30)
    requests.get(f"{server.url}/sequence/v1/keys", timeout=10).raise_for_status()
    answers = []

    def verify(series_id):
        answers.append(requests.get(f"{server.url}/sequence/v1/series/{series_id}/verify",
                                    headers=auth, timeout=60).json())

    verifications = [threading.Thread(target=verify, args=(s,)) for s in series]
    for thread in verifications:
        thread.start()
    time.sleep(0.2)
    latencies = []
    while any(thread.is_alive() for thread in verifications) and len(latencies) < 50:
        started = time.monotonic()
        requests.get(f"{server.url}/sequence/v1/keys", timeout=10).raise_for_status()
        latencies.append(time.monotonic() - started)
        time.sleep(0.02)
    for thread in verifications:
        thread.join(timeout=60)
    assert [answer["entries"] for answer in answers] == [ENTRIES] * 4, answers
    assert all(answer["valid"] is True for answer in answers)
    assert len(latencies) >= 3, "the verifications ended before GET /keys could be timed"
    assert max(latencies) < SLOWEST_KEYS_ANSWER, latencies
