"""Typed identifiers shared by every layer."""

from typing import NewType

GroupId = NewType("GroupId", int)
AgentId = NewType("AgentId", int)
