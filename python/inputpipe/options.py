"""inputpipe.Options: options of a whole pipeline, as tf.data.Options.

    options = inputpipe.Options()
    options.deterministic = False                      # parallel maps and interleaves without
                                                       # their own say
    options.threading.private_threadpool_size = 4      # at most 4 worker threads per op
    options.experimental_external_state_policy = "warn"
    ds = ds.with_options(options)
    ds.options().deterministic                         # False

    ds.with_options(inputpipe.Options(deterministic=False, threading={"private_threadpool_size": 4}))

An unset option (None) keeps each op's own behaviour. Options given at several places in a
pipeline merge, the later (outer) with_options winning per option, as tf.data. Only
deterministic=False changes the output, so it alone is part of the pipeline's identity (a
checkpoint of the pipeline without it does not restore into it); the other options can be
added, removed or changed between a save and a restore. A name tf.data has and inputpipe does
not (experimental_optimization, ...) or a misspelt one is an AttributeError saying so:
docs/guide/options.md lists every option and what it does here.
"""

from __future__ import annotations

from typing import Any

# tf.data's options that have no counterpart here, and why (the error says it).
_TF_ONLY = {
    "experimental_optimization": "inputpipe applies no graph rewrites",
    "experimental_distribute": "sharding is an op here: Dataset.shard / Dataset.distribute",
    "experimental_slack": "inputpipe has no slack period",
    "experimental_warm_start": "iterators start their threads at the first next()",
    "experimental_symbolic_checkpoint": "every inputpipe checkpoint holds positions only",
    "experimental_deterministic": "use deterministic",
    "dataset_name": "use name= on the ops",
    "framework_type": "not used by inputpipe",
}

_POLICIES = ("fail", "warn", "ignore")


def _policy_name(value: Any) -> str | None:
    """'fail' / 'warn' / 'ignore' from a str or an enum member (tf.data's ExternalStatePolicy)."""
    if value is None:
        return None
    name = value.name if hasattr(value, "name") and not isinstance(value, str) else value
    if not isinstance(name, str) or name.lower() not in _POLICIES:
        raise ValueError("Options.experimental_external_state_policy must be 'fail', 'warn' or "
                         f"'ignore' (or tf.data's ExternalStatePolicy), got {value!r}")
    return name.lower()


def _positive(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Options.{what} must be a positive int or None, got {value!r}")
    return int(value)


def _optional_bool(value: Any, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"Options.{what} must be a bool or None, got {value!r}")
    return value


class _OptionGroup:
    """A group of options with a fixed set of names (tf.data's options classes)."""

    __slots__: tuple[str, ...] = ()
    _group = ""

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, None)
        for name, value in values.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.__slots__:
            raise AttributeError(f"inputpipe.Options{self._group} has no option {name!r}; the "
                                 f"options are: {', '.join(self.__slots__)}")
        object.__setattr__(self, name, self._check(name, value))

    def _check(self, name: str, value: Any) -> Any:
        return value

    def _set(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.__slots__ if getattr(self, n) is not None}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._set() == other._set()

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self._set().items())
        return f"{type(self).__name__}({items})"


class ThreadingOptions(_OptionGroup):
    """private_threadpool_size: at most this many worker threads in each parallel map and
    parallel interleave (tf.data: one pool of that size for the pipeline; here a cap per op).
    max_intra_op_parallelism: accepted for tf.data's sake; no effect (a function call runs on
    one thread)."""

    __slots__ = ("private_threadpool_size", "max_intra_op_parallelism")
    _group = ".threading"
    private_threadpool_size: int | None
    max_intra_op_parallelism: int | None

    def _check(self, name: str, value: Any) -> Any:
        return _positive(value, f"threading.{name}")


class AutotuneOptions(_OptionGroup):
    """enabled: accepted; no effect, as AUTOTUNE is a fixed choice here (the CPUs of the
    affinity mask for parallelism, 16 for a prefetch buffer), the one tf.data makes without its
    autotuner."""

    __slots__ = ("enabled",)
    _group = ".autotune"
    enabled: bool | None

    def _check(self, name: str, value: Any) -> Any:
        return _optional_bool(value, f"autotune.{name}")


def _group(cls: type, value: Any, what: str) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"Options.{what} must be a {cls.__name__} or a dict, got {value!r}")


class Options:
    """Options of a whole pipeline (Dataset.with_options), as tf.data.Options: deterministic,
    threading (private_threadpool_size, max_intra_op_parallelism), autotune (enabled),
    experimental_external_state_policy. See the module docstring."""

    __slots__ = ("deterministic", "threading", "autotune", "experimental_external_state_policy")
    deterministic: bool | None
    threading: ThreadingOptions
    autotune: AutotuneOptions
    experimental_external_state_policy: str | None

    def __init__(self, deterministic: bool | None = None,
                 threading: ThreadingOptions | dict[str, Any] | None = None,
                 autotune: AutotuneOptions | dict[str, Any] | None = None,
                 experimental_external_state_policy: Any = None) -> None:
        self.deterministic = deterministic
        self.threading = _group(ThreadingOptions, threading, "threading")
        self.autotune = _group(AutotuneOptions, autotune, "autotune")
        self.experimental_external_state_policy = experimental_external_state_policy

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "deterministic":
            value = _optional_bool(value, name)
        elif name == "threading":
            value = _group(ThreadingOptions, value, name)
        elif name == "autotune":
            value = _group(AutotuneOptions, value, name)
        elif name == "experimental_external_state_policy":
            value = _policy_name(value)
        elif name in _TF_ONLY:
            raise AttributeError(f"inputpipe.Options has no option {name!r}, which tf.data has: "
                                 f"{_TF_ONLY[name]}")
        else:
            raise AttributeError(f"inputpipe.Options has no option {name!r}; the options are: "
                                 f"{', '.join(self.__slots__)}")
        object.__setattr__(self, name, value)

    def _engine_kwargs(self) -> dict[str, Any]:
        """The fields as _core.with_options takes them."""
        return {
            "deterministic": self.deterministic,
            "private_threadpool_size": self.threading.private_threadpool_size,
            "max_intra_op_parallelism": self.threading.max_intra_op_parallelism,
            "autotune_enabled": self.autotune.enabled,
            "external_state_policy": self.experimental_external_state_policy,
        }

    @classmethod
    def _from_engine(cls, fields: dict[str, Any]) -> Options:
        """The Options of _core.pipeline_options' dict."""
        return cls(
            deterministic=fields.get("deterministic"),
            threading=ThreadingOptions(
                private_threadpool_size=fields.get("private_threadpool_size"),
                max_intra_op_parallelism=fields.get("max_intra_op_parallelism")),
            autotune=AutotuneOptions(enabled=fields.get("autotune_enabled")),
            experimental_external_state_policy=fields.get("external_state_policy"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Options):
            return NotImplemented
        return self._engine_kwargs() == other._engine_kwargs()

    __hash__ = None  # type: ignore[assignment]  # mutable, as tf.data.Options

    def __repr__(self) -> str:
        parts = []
        if self.deterministic is not None:
            parts.append(f"deterministic={self.deterministic!r}")
        if self.threading._set():
            parts.append(f"threading={self.threading!r}")
        if self.autotune._set():
            parts.append(f"autotune={self.autotune!r}")
        if self.experimental_external_state_policy is not None:
            parts.append("experimental_external_state_policy="
                         f"{self.experimental_external_state_policy!r}")
        return f"Options({', '.join(parts)})"
