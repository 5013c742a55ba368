"""The one way ffwatt reads a YAML file a user wrote (scenarios, web configs, health targets,
hosts.yml): `yaml.safe_load`, bounded, every failure one error that names the file.

* The document is composed first and its size counted with every alias written out; past
  `MAX_YAML_NODES` nodes (a "billion laughs": 536 bytes, 9**9 nodes) or a recursive alias it is
  refused before any Python object is built.
* An unreadable file, bad YAML (with its line and column), a nesting too deep and a refused
  alias graph all raise the caller's error class (an `FfwattError`) with the message
  `<what> <path>: <problem>`.

PyYAML is imported on first use: a process that reads no YAML (most exporters) never pays for
the parser (~4 MB resident).
"""

from __future__ import annotations

import os
from typing import Any

from ffwatt.common.errors import FfwattError

__all__ = ["MAX_YAML_NODES", "load_yaml", "parse_yaml"]

MAX_YAML_NODES = 100_000  # a real file has hundreds of nodes


def load_yaml(path: str | os.PathLike, error: type[FfwattError], what: str = "") -> Any:
    """The document in `path` (None when empty); `error("<what> <path>: ...")` when it cannot be had."""
    where = f"{what} {path}" if what else str(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise error(f"{where}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return parse_yaml(text, where, error)


def parse_yaml(text: str, where: str, error: type[FfwattError]) -> Any:
    """The document in `text`; `error("<where>: ...")` for bad YAML or an alias bomb."""
    import yaml

    try:
        return _compose_bounded(yaml, text, where, error)
    except RecursionError:
        raise error(f"{where}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{where}: not valid YAML: {at}{problem}") from None


def _compose_bounded(yaml: Any, text: str, where: str, error: type[FfwattError]) -> Any:
    # Composing keeps an alias as a reference to its anchor's node (cheap); the expanded size is
    # counted on that graph, memoised per node, before anything is constructed.
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(yaml, node, {}, set())
        if size is None:
            raise error(f"{where}: an alias refers to a node that contains it (a recursive YAML alias); write the "
                        "values out")
        if size > MAX_YAML_NODES:
            raise error(f"{where}: YAML aliases expand to more than {MAX_YAML_NODES:,} nodes; refused (an alias "
                        "bomb?): write the values out")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(yaml: Any, node: Any, sizes: dict[int, int], open_nodes: set[int]) -> int | None:
    """Nodes under `node` with every alias written out; None when an alias is recursive."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        return None
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    total = 1
    for child in children:
        size = _expanded_size(yaml, child, sizes, open_nodes)
        if size is None:
            return None
        total += size
        if total > MAX_YAML_NODES:
            break  # enough to refuse; the rest is never walked
    open_nodes.discard(key)
    sizes[key] = total
    return total
