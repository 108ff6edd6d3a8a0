"""The model as the build left it: validated once by `sam build` and stored beside its YAML, so a
Lambda cold start neither parses YAML nor validates again (that was most of a cold start's own
cost: YAML, building the validators, running them).

The build (scripts/build_rules_layer.py) writes `model.pickle` into the rules layer: a header
naming the digest of every other file in the folder, then the validated model. At run time the
model is taken from it only if the folder's files still have that digest; otherwise (no build,
an edited file, another library version that cannot read it) the YAML is loaded and validated
as before, and a warning says why. The file comes from our own build into read-only code, which
is what makes unpickling it acceptable. Its spec is stored as `frozen.Frozen` objects, so
unpickling it imports neither pydantic nor the spec's classes.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .frozen import freeze

if TYPE_CHECKING:
    from .compiler import CompiledModel
    from .source import Reading
    from .spec import ModelSpec

BUILT_NAME = "model.pickle"
_FORMAT = b"leadscore-built-model/1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    version: str  # content hash: recorded with every score change
    sources: tuple[str, ...]
    # "file:line:column: warning: ..." for what loads but cannot work as meant; fatal with --strict
    warnings: tuple[str, ...] = ()
    # plain values YAML 1.1 tools read differently (NO, yes, 010): shown by `explain`, not wrong
    readings: tuple[Reading, ...] = ()


def folder_digest(folder: Path) -> str:
    """sha256 over the names and bytes of the folder's files, the built model itself left out."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name != BUILT_NAME):
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def write_built(loaded: LoadedModel, folder: Path) -> Path:
    """Store the validated model in `folder`, which already holds the files it was loaded from."""
    path = Path(folder) / BUILT_NAME
    # What scoring needs, readable without pydantic (core/frozen.py); explain reads the YAML.
    runtime = replace(loaded, spec=freeze(loaded.spec), warnings=(), readings=())
    plain = loaded.spec.model_dump(mode="json", by_alias=True)  # what the compiler reads
    body = pickle.dumps((runtime, plain), protocol=5)
    path.write_bytes(_FORMAT + b" " + folder_digest(folder).encode() + b"\n" + body)
    return path


def read_built(folder: Path) -> tuple[tuple[LoadedModel, dict[str, Any]] | None, str]:
    """The built model in `folder` (the validated model and its plain data) and "", or None and why
    it cannot be used."""
    path = Path(folder) / BUILT_NAME
    if not path.is_file():
        return None, "no built model"
    header, _, body = path.read_bytes().partition(b"\n")
    if header != _FORMAT + b" " + folder_digest(folder).encode():
        return None, f"{BUILT_NAME} does not match the files beside it (edited after the build?)"
    try:
        built = pickle.loads(body)
    except Exception as error:  # noqa: BLE001 - e.g. built with another pydantic: read the YAML instead
        return None, f"{BUILT_NAME} cannot be read here ({type(error).__name__}: {error})"
    if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], LoadedModel)):
        return None, f"{BUILT_NAME} holds no model"
    return built, ""


def load_deployed(folder: Path | str) -> CompiledModel:
    """The model a function scores with: the build's if it is there and current, else the YAML."""
    from .compiler import compile_model, compile_plain

    built, why = read_built(Path(folder))
    if built is not None:
        loaded, plain = built
        return compile_plain(plain, loaded.version, loaded.spec)  # no validator is ever built
    if why != "no built model":
        log.warning("reading the model's YAML: %s", why)
    from .loader import load_model  # only on this path: YAML and validation cost a cold start

    return compile_model(load_model(Path(folder)))
