"""Fuzzing both APIs from ``/openapi.json`` with schemathesis, in-process (WSGI).

Every operation of the document is called with requests generated from it (its examples,
its coverage cases: edges, each field left out or of the wrong type, other methods on the
path; then random ones), valid and invalid, with a real account's key and with made-up
ones. schemathesis checks each answer: no server error at all, a documented status, its
content type, its body schema and required headers (Allow on a 405), a schema-violating
request refused, a valid one not refused with 400, a request without its key refused.

Bounded and derandomized: the same cases on every run, in about 30 s per database on two
cores (max_examples below). No deadline: a slow CI machine is not a failure.
"""
import copy
import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from invx.openapi import document

from .support.fuzz import MADE_UP_KEYS, Known, authorize

CONFIG = {
    "base-url": "http://localhost",  # a bare host: the key alone names the account
    # A request the document allows can still be refused by a rule no JSON schema says:
    # a series name AT refuses or one the account has (422 001, 002), a cursor this API
    # did not give, last_index that is not start - 1 (422); or the rate limit (429).
    "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "401", "404", "409", "422", "429"]}},
}
# What GET /openapi.json serves (test_the_fuzzed_document_is_the_served_one), loaded at
# import: schemathesis parametrizes the tests at collection.
fuzzed = schemathesis.openapi.from_dict(copy.deepcopy(document()),
                                        config=schemathesis.Config.from_dict(CONFIG))
known = Known()
# The health checks are about generation speed and size, which the bounds here decide.
BOUNDS = {"deadline": None, "derandomize": True, "database": None,
          "suppress_health_check": list(HealthCheck)}


@fuzzed.hook
def flatmap_path_parameters(context, path_parameters):
    return known.path_parameters(context, path_parameters)


def test_the_fuzzed_document_is_the_served_one_with_every_operation(client):
    served = client.get("/openapi.json").get_json()
    assert served == fuzzed.raw_schema
    operations = {(path, method) for path, item in served["paths"].items() for method in item}
    fuzzed_operations = {(result.ok().path, result.ok().method)
                         for result in fuzzed.get_all_operations()}
    assert fuzzed_operations == operations and len(operations) == 14


@pytest.fixture
def acme(client, key):
    """``acme``'s key, with a sequence, a series and entries that generated paths find."""
    known.fill(client, key)
    yield key
    known.clear()


@fuzzed.parametrize()
@settings(max_examples=60, **BOUNDS)
def test_with_a_real_key(case, app, acme):
    case.operation.app = case.operation.schema.app = app  # in-process, the checks' too
    authorize(case, acme)
    case.call_and_validate()


@pytest.fixture
def made_up(key):
    """Keys no account has (while ``acme`` has one), in turn."""
    return itertools.cycle(MADE_UP_KEYS)


@fuzzed.parametrize()
@settings(max_examples=10, **BOUNDS)
def test_with_made_up_keys(case, app, made_up):
    case.operation.app = case.operation.schema.app = app
    authorize(case, next(made_up))
    case.call_and_validate()
