"""Write docs/asyncapi.yaml (AsyncAPI 3) from the message contracts (``make asyncapi``).

The document is generated from gossipsim.common.messaging.messages and
gossipsim.common.messaging.topology, so it cannot drift from the code; ``--check`` fails when
the committed document is stale (a test runs it). Any AMQP client can produce messages from
this document alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from gossipsim.common.messaging.messages import MAX_MESSAGE_BYTES, MESSAGE_TYPES, VERSION, Message
from gossipsim.common.messaging.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "asyncapi.yaml"
PREFIX = "{prefix}"


def _schema(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return {"oneOf": [_schema(arg) for arg in typing.get_args(annotation)]}
    if annotation is Any:
        return {}
    if origin is dict or annotation is dict:
        args = typing.get_args(annotation)
        value = _schema(args[1]) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value or True}
    if origin is list or annotation is list:
        args = typing.get_args(annotation)
        return {"type": "array", "items": _schema(args[0]) if args else {}}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": simple[annotation]}


def message_schema(message_type: type[Message]) -> dict[str, Any]:
    hints = typing.get_type_hints(message_type)
    properties: dict[str, Any] = {
        "kind": {"type": "string", "const": message_type.kind},
        "version": {"type": "integer", "const": VERSION},
    }
    required = ["kind", "version"]
    for field in dataclasses.fields(message_type):
        properties[field.name] = _schema(hints[field.name])
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.append(field.name)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _message_name(kind: str) -> str:
    return kind.replace(".", "_")


def build_document() -> dict[str, Any]:
    topology = Topology(prefix=PREFIX)
    messages = {
        _message_name(kind): {
            "name": kind,
            "title": kind,
            "summary": (message_type.__doc__ or kind).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": message_schema(message_type),
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
        "components": {"messages": messages},
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
