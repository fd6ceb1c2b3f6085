"""The settings the test suite runs invx with."""
from invx.config import Settings

# One INVX_SECRET_KEY for the whole run: the server's signing keys are sealed with it, so
# the test app and every gunicorn it starts must share it.
TEST_SECRET = "the-test-suite-secret-key-0123456789"


def suite_settings(database_url, **changes):
    """Settings for an app under test: no sandbox latency, the suite's secret, a Tax
    Authority called inside a database transaction failing the test, and no background
    resumption of interrupted registrations (the tests that want it turn it on)."""
    return Settings(database_url=database_url, secret_key=TEST_SECRET, sandbox_latency=0.0,
                    at_transaction_guard="raise", resume_check_seconds=0).replace(**changes)
