"""Conversions between numpy arrays / aggregates and the node service's protobuf messages."""

from __future__ import annotations

import numpy as np

from gossipsim.common.model.aggregates import Aggregates, int_from_bytes, int_to_bytes
from gossipsim.common.rpc import node_pb2 as pb

_ALLOWED_DTYPES = {"<i4", "<i8", "<u8", "<f8", "|b1"}


def array_to_proto(array: np.ndarray) -> pb.Array:
    array = np.ascontiguousarray(array)
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    return pb.Array(dtype=dtype.str, data=array.astype(dtype, copy=False).tobytes())


def array_from_proto(message: pb.Array, *, default: str = "<i8") -> np.ndarray:
    """Decode an array; an unset message is an empty array of ``default`` dtype."""
    dtype = message.dtype or default
    if dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"unsupported array dtype {dtype!r}")
    itemsize = np.dtype(dtype).itemsize
    if len(message.data) % itemsize:
        raise ValueError(f"array of {dtype} has {len(message.data)} bytes, not a whole number")
    return np.frombuffer(message.data, dtype=dtype).copy()


def aggregates_to_proto(aggregates: Aggregates) -> pb.Aggregates:
    return pb.Aggregates(
        count=aggregates.count,
        sum_scaled=int_to_bytes(aggregates.sum_scaled),
        sum_squares_scaled=int_to_bytes(aggregates.sum_squares_scaled),
        minimum=aggregates.minimum,
        maximum=aggregates.maximum,
        mass_scaled=int_to_bytes(aggregates.mass_scaled),
        weight_scaled=int_to_bytes(aggregates.weight_scaled),
    )


def aggregates_from_proto(message: pb.Aggregates) -> Aggregates:
    return Aggregates(
        count=message.count,
        sum_scaled=int_from_bytes(message.sum_scaled),
        sum_squares_scaled=int_from_bytes(message.sum_squares_scaled),
        minimum=message.minimum,
        maximum=message.maximum,
        mass_scaled=int_from_bytes(message.mass_scaled),
        weight_scaled=int_from_bytes(message.weight_scaled),
    )
