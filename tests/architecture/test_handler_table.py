"""Handlers are registered by name: every handler is a real operation of its botocore model."""

import inspect

import pytest

from tule.aws import specs
from tule.services.registry import SERVICES, snake_case

SERVED = [e for e in SERVICES if e.package is not None]


@pytest.mark.parametrize("entry", SERVED, ids=lambda e: e.name)
def test_every_handler_names_a_real_operation(entry) -> None:
    module = entry.handlers_module()
    operations = {snake_case(op) for op in specs.service_model(entry.name).operation_names}
    handlers = {
        name
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__ and not name.startswith("_")
    }
    assert handlers, f"{entry.name} has no handlers"
    unknown = handlers - operations
    assert not unknown, f"not operations of {entry.name}: {sorted(unknown)}"


def test_snake_case_matches_botocore_for_every_served_operation() -> None:
    from botocore import xform_name

    for entry in SERVICES:
        for op in specs.service_model(entry.name).operation_names:
            assert snake_case(op) == xform_name(op), op
