"""Write docs/asyncapi.yaml (AsyncAPI 3) from the message contracts (``make asyncapi``).

The document is generated from gossipsim.common.messaging.messages and
gossipsim.common.messaging.topology, so it cannot drift from the code; ``--check`` fails when
the committed document is stale (a test runs it). Any AMQP client can produce messages from
this document alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, MESSAGE_TYPES, VERSION, Message
from gossipsim.common.messaging.topology import Topology
from gossipsim.common.spec.ids import (
    MAX_RUN_ID_LENGTH,
    MAX_SIMULATION_ID_LENGTH,
    RUN_ID_PATTERN,
    SIMULATION_ID_PATTERN,
    RunId,
    SimulationId,
)

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "asyncapi.yaml"
PREFIX = "{prefix}"


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_IDS = {
    SimulationId: (
        "SimulationId",
        "Lower-case letters, digits, '.' and '-', starting with a letter or a digit.",
        SIMULATION_ID_PATTERN,
        MAX_SIMULATION_ID_LENGTH,
    ),
    RunId: (
        "RunId",
        "Letters, digits, '.', '_', '=' and '-', starting with a letter or a digit:"
        " <graph>.<algorithm>[.<parameter>=<value>...].r<repetition>.",
        RUN_ID_PATTERN,
        MAX_RUN_ID_LENGTH,
    ),
}


class _Schemas:
    """JSON schemas of annotations; dataclasses and ids become named components ($ref)."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, annotation: Any) -> dict[str, Any]:
        if annotation is Any:
            return {}
        if annotation in _IDS:
            name, description, pattern, length = _IDS[annotation]
            self.components[name] = {
                "type": "string",
                "description": description,
                "pattern": f"^{pattern.pattern}$",
                "maxLength": length,
            }
            return {"$ref": f"#/components/schemas/{name}"}
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            return {"oneOf": [self.of(arg) for arg in args]}
        if origin in (dict, Mapping) or annotation is dict:
            value = self.of(args[1]) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": value or True}
        if origin in (list, tuple, Sequence) or annotation is list:
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return {"type": "string", "enum": [member.name.lower() for member in annotation]}
        if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
            name = annotation.__name__
            if name not in self.components:
                self.components[name] = {}  # taken before recursing
                self.components[name] = self.object(annotation)
            return {"$ref": f"#/components/schemas/{name}"}
        return {"type": _SIMPLE[annotation]}

    def object(self, cls: type[Any], head: dict[str, Any] | None = None) -> dict[str, Any]:
        """A closed object with a property per field of the dataclass ``cls``."""
        hints = typing.get_type_hints(cls)
        properties = dict(head or {})
        required = list(properties)
        for field in dataclasses.fields(cls):
            properties[field.name] = self.of(hints[field.name])
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                required.append(field.name)
        schema: dict[str, Any] = {"type": "object"}
        if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
            schema["description"] = " ".join(cls.__doc__.split())
        schema |= {"additionalProperties": False, "required": required, "properties": properties}
        return schema


def message_schema(message_type: type[Message], schemas: _Schemas) -> dict[str, Any]:
    head = {
        "kind": {"type": "string", "const": message_type.kind},
        "version": {"type": "integer", "const": VERSION},
    }
    schema = schemas.object(message_type, head)
    schema.pop("description", None)  # the message's summary says it
    return schema


def _message_name(kind: str) -> str:
    return kind.replace(".", "_")


def build_document() -> dict[str, Any]:
    topology = Topology(prefix=PREFIX)
    schemas = _Schemas()
    messages = {
        _message_name(kind): {
            "name": kind,
            "title": kind,
            "summary": (message_type.__doc__ or kind).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": message_schema(message_type, schemas),
        }
        for kind, message_type in MESSAGE_TYPES.items()
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for kind in MESSAGE_TYPES:
        exchange = topology.exchange_for(kind)
        channel = _message_name(kind)
        channels[channel] = {
            "address": kind,
            "description": f"Routing key {kind} on the topic exchange {exchange}.",
            "messages": {channel: {"$ref": f"#/components/messages/{channel}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange, "type": "topic", "durable": True},
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"send_{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "bindings": {
                "amqp": {
                    "deliveryMode": 2,
                    "contentType": "application/json",
                    "bindingVersion": "0.3.0",
                }
            },
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "gossipsim",
            "version": str(VERSION),
            "description": (
                "Commands and events of gossipsim. Every message is a JSON object with `kind` "
                f"and `version` beside its fields, at most {MAX_MESSAGE_BYTES} bytes, published "
                "persistent with content type application/json. Exchange names start with the "
                "deployment's prefix (GOSSIPSIM_PREFIX, default `gossipsim`), written {prefix} "
                "here. Submit work by publishing `simulation.submit` to {prefix}.commands."
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": dict(sorted(schemas.components.items())),
        },
    }


def render() -> str:
    return yaml.safe_dump(build_document(), sort_keys=False, width=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/asyncapi.yaml is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/asyncapi.yaml is stale; run `make asyncapi`")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
