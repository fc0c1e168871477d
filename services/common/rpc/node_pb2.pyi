from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliveryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_KIND_UNSPECIFIED: _ClassVar[DeliveryKind]
    REQUESTS: _ClassVar[DeliveryKind]
    REPLIES: _ClassVar[DeliveryKind]
    UPDATES: _ClassVar[DeliveryKind]
    WAVE_VALUES: _ClassVar[DeliveryKind]
DELIVERY_KIND_UNSPECIFIED: DeliveryKind
REQUESTS: DeliveryKind
REPLIES: DeliveryKind
UPDATES: DeliveryKind
WAVE_VALUES: DeliveryKind

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Array(_message.Message):
    __slots__ = ("dtype", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    data: bytes
    def __init__(self, dtype: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class AlgorithmConfig(_message.Message):
    __slots__ = ("rule", "memory", "mode", "order", "prior_partner_factor", "weighted")
    RULE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PRIOR_PARTNER_FACTOR_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    rule: int
    memory: int
    mode: int
    order: int
    prior_partner_factor: float
    weighted: bool
    def __init__(self, rule: _Optional[int] = ..., memory: _Optional[int] = ..., mode: _Optional[int] = ..., order: _Optional[int] = ..., prior_partner_factor: _Optional[float] = ..., weighted: _Optional[bool] = ...) -> None: ...

class ConfigureRequest(_message.Message):
    __slots__ = ("configuration_id", "shard_index", "shard_bounds", "peer_addresses", "indptr", "neighbors", "edge_weights", "algorithm", "num_vertices")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_BOUNDS_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    INDPTR_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    EDGE_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    NUM_VERTICES_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    shard_index: int
    shard_bounds: _containers.RepeatedScalarFieldContainer[int]
    peer_addresses: _containers.RepeatedScalarFieldContainer[str]
    indptr: Array
    neighbors: Array
    edge_weights: Array
    algorithm: AlgorithmConfig
    num_vertices: int
    def __init__(self, configuration_id: _Optional[str] = ..., shard_index: _Optional[int] = ..., shard_bounds: _Optional[_Iterable[int]] = ..., peer_addresses: _Optional[_Iterable[str]] = ..., indptr: _Optional[_Union[Array, _Mapping]] = ..., neighbors: _Optional[_Union[Array, _Mapping]] = ..., edge_weights: _Optional[_Union[Array, _Mapping]] = ..., algorithm: _Optional[_Union[AlgorithmConfig, _Mapping]] = ..., num_vertices: _Optional[int] = ...) -> None: ...

class ConfigureReply(_message.Message):
    __slots__ = ("local_vertices", "halo_ids")
    LOCAL_VERTICES_FIELD_NUMBER: _ClassVar[int]
    HALO_IDS_FIELD_NUMBER: _ClassVar[int]
    local_vertices: int
    halo_ids: Array
    def __init__(self, local_vertices: _Optional[int] = ..., halo_ids: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("configuration_id", "run_key", "values", "halo_values")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    HALO_VALUES_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    run_key: int
    values: Array
    halo_values: Array
    def __init__(self, configuration_id: _Optional[str] = ..., run_key: _Optional[int] = ..., values: _Optional[_Union[Array, _Mapping]] = ..., halo_values: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class Aggregates(_message.Message):
    __slots__ = ("count", "sum_scaled", "sum_squares_scaled", "minimum", "maximum", "mass_scaled", "weight_scaled")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_SCALED_FIELD_NUMBER: _ClassVar[int]
    SUM_SQUARES_SCALED_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    MASS_SCALED_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_SCALED_FIELD_NUMBER: _ClassVar[int]
    count: int
    sum_scaled: bytes
    sum_squares_scaled: bytes
    minimum: float
    maximum: float
    mass_scaled: bytes
    weight_scaled: bytes
    def __init__(self, count: _Optional[int] = ..., sum_scaled: _Optional[bytes] = ..., sum_squares_scaled: _Optional[bytes] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., mass_scaled: _Optional[bytes] = ..., weight_scaled: _Optional[bytes] = ...) -> None: ...

class StopCondition(_message.Message):
    __slots__ = ("max_rounds", "until_converged", "epsilon")
    MAX_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_CONVERGED_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    max_rounds: int
    until_converged: bool
    epsilon: float
    def __init__(self, max_rounds: _Optional[int] = ..., until_converged: _Optional[bool] = ..., epsilon: _Optional[float] = ...) -> None: ...

class HistorySampling(_message.Message):
    __slots__ = ("every", "vertices")
    EVERY_FIELD_NUMBER: _ClassVar[int]
    VERTICES_FIELD_NUMBER: _ClassVar[int]
    every: int
    vertices: Array
    def __init__(self, every: _Optional[int] = ..., vertices: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class RunRoundsRequest(_message.Message):
    __slots__ = ("configuration_id", "stop", "history")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    stop: StopCondition
    history: HistorySampling
    def __init__(self, configuration_id: _Optional[str] = ..., stop: _Optional[_Union[StopCondition, _Mapping]] = ..., history: _Optional[_Union[HistorySampling, _Mapping]] = ...) -> None: ...

class HistorySample(_message.Message):
    __slots__ = ("round", "values")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    round: int
    values: Array
    def __init__(self, round: _Optional[int] = ..., values: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class RunRoundsReply(_message.Message):
    __slots__ = ("rounds", "converged", "history")
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    rounds: _containers.RepeatedCompositeFieldContainer[Aggregates]
    converged: bool
    history: _containers.RepeatedCompositeFieldContainer[HistorySample]
    def __init__(self, rounds: _Optional[_Iterable[_Union[Aggregates, _Mapping]]] = ..., converged: _Optional[bool] = ..., history: _Optional[_Iterable[_Union[HistorySample, _Mapping]]] = ...) -> None: ...

class PhaseRequest(_message.Message):
    __slots__ = ("configuration_id", "round")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    round: int
    def __init__(self, configuration_id: _Optional[str] = ..., round: _Optional[int] = ...) -> None: ...

class PhaseReply(_message.Message):
    __slots__ = ("aggregates",)
    AGGREGATES_FIELD_NUMBER: _ClassVar[int]
    aggregates: Aggregates
    def __init__(self, aggregates: _Optional[_Union[Aggregates, _Mapping]] = ...) -> None: ...

class TurnRequest(_message.Message):
    __slots__ = ("configuration_id", "round", "start", "stop")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    round: int
    start: int
    stop: int
    def __init__(self, configuration_id: _Optional[str] = ..., round: _Optional[int] = ..., start: _Optional[int] = ..., stop: _Optional[int] = ...) -> None: ...

class PartnersReply(_message.Message):
    __slots__ = ("partners",)
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    partners: Array
    def __init__(self, partners: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class OrderReply(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Array
    def __init__(self, order: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class ScheduleRequest(_message.Message):
    __slots__ = ("configuration_id", "round", "initiators", "partners", "waves")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    INITIATORS_FIELD_NUMBER: _ClassVar[int]
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    WAVES_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    round: int
    initiators: Array
    partners: Array
    waves: Array
    def __init__(self, configuration_id: _Optional[str] = ..., round: _Optional[int] = ..., initiators: _Optional[_Union[Array, _Mapping]] = ..., partners: _Optional[_Union[Array, _Mapping]] = ..., waves: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class WaveRequest(_message.Message):
    __slots__ = ("configuration_id", "round", "wave")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    WAVE_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    round: int
    wave: int
    def __init__(self, configuration_id: _Optional[str] = ..., round: _Optional[int] = ..., wave: _Optional[int] = ...) -> None: ...

class DeliverRequest(_message.Message):
    __slots__ = ("configuration_id", "round", "kind", "from_shard", "ids", "partners", "x", "w", "priority", "event_targets", "event_partners", "event_changed", "wave")
    CONFIGURATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FROM_SHARD_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    W_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TARGETS_FIELD_NUMBER: _ClassVar[int]
    EVENT_PARTNERS_FIELD_NUMBER: _ClassVar[int]
    EVENT_CHANGED_FIELD_NUMBER: _ClassVar[int]
    WAVE_FIELD_NUMBER: _ClassVar[int]
    configuration_id: str
    round: int
    kind: DeliveryKind
    from_shard: int
    ids: Array
    partners: Array
    x: Array
    w: Array
    priority: Array
    event_targets: Array
    event_partners: Array
    event_changed: Array
    wave: int
    def __init__(self, configuration_id: _Optional[str] = ..., round: _Optional[int] = ..., kind: _Optional[_Union[DeliveryKind, str]] = ..., from_shard: _Optional[int] = ..., ids: _Optional[_Union[Array, _Mapping]] = ..., partners: _Optional[_Union[Array, _Mapping]] = ..., x: _Optional[_Union[Array, _Mapping]] = ..., w: _Optional[_Union[Array, _Mapping]] = ..., priority: _Optional[_Union[Array, _Mapping]] = ..., event_targets: _Optional[_Union[Array, _Mapping]] = ..., event_partners: _Optional[_Union[Array, _Mapping]] = ..., event_changed: _Optional[_Union[Array, _Mapping]] = ..., wave: _Optional[int] = ...) -> None: ...

class GetValuesRequest(_message.Message):
    __slots__ = ("vertices",)
    VERTICES_FIELD_NUMBER: _ClassVar[int]
    vertices: Array
    def __init__(self, vertices: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...

class GetValuesReply(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: Array
    def __init__(self, values: _Optional[_Union[Array, _Mapping]] = ...) -> None: ...
