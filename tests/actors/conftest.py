"""Fixtures shared by the actor tests: the callback receiver and manager factory of
``test_callbacks`` (other modules' tests of callback delivery use them too)."""

from tests.actors.test_callbacks import manager_factory, receiver  # noqa: F401
