"""Helpers for testing code that uses dkl_zoo without network access (a Hub-protocol server on 127.0.0.1)."""

from .hub_server import HubServer

__all__ = ["HubServer"]
