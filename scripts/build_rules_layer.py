"""Builds the rules layer: validates the model and copies its files, so a bad model never deploys.

`sam build` runs this (functions/Makefile, target build-RulesLayer) with the project's Python:
    python scripts/build_rules_layer.py RULES_DIR LAYER_PYTHON_DIR
The model is validated with the full loader (YAML, every check, warnings as in `validate`);
the build fails on any model error, as `leadscore validate` does. The validated model is stored
beside the YAML (`model.pickle`, core/built.py), so cold starts neither parse nor validate it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from leadscore.core.built import read_built, write_built  # noqa: E402
from leadscore.core.compiler import compile_model, compile_plain  # noqa: E402
from leadscore.core.frozen import freeze  # noqa: E402
from leadscore.core.loader import ModelError, load_model  # noqa: E402
from leadscore.core.source import MODEL_SUFFIXES  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        loaded = load_model(source)
    except ModelError as error:
        print(f"the model in {source} does not validate:\n{error}", file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    target.mkdir(parents=True, exist_ok=True)
    for file in sorted(source.iterdir()):
        if file.is_file() and (file.suffix.lower() in MODEL_SUFFIXES or file.name.endswith(".schema.json")):
            shutil.copy2(file, target / file.name)
    model = compile_model(loaded)
    write_built(loaded, target)
    built, why = read_built(target)
    if built is None or compile_plain(built[1], built[0].version, built[0].spec).version != model.version:
        print(f"the built model does not read back: {why or 'another version'}", file=sys.stderr)
        return 1
    if built[0].spec != freeze(loaded.spec):
        print("the built model's settings do not read back as they were validated", file=sys.stderr)
        return 1
    print(f"rules layer: model {loaded.version}, {len(model.rules)} rules (validated model stored for cold starts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
