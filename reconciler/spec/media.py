"""Local media: the images and audio files specs name, hashed on every load.

    PartialEntry --each file read (inside the spec directories), type sniffed, sha256--> SpecEntry

A local file counts by its bytes (`local:sha256:<hex>` in the parameters), so the key follows the
file's content, not its path. A file outside the spec directories is refused unless allowed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from reconciler import catalog
from reconciler.errors import Location, SpecError
from reconciler.spec.discovery import display_path
from reconciler.spec.files import ACCEPTED, MAX_MEDIA_BYTES, Refused, media_type, outside, read_regular
from reconciler.spec.values import FileEntry, LocalFile, SpecEntry

LOCAL_IMAGE_PREFIX: Final = "local:sha256:"
OUTSIDE_HINT: Final = (
    "move the file under the spec directory, or set `allow_outside_files = true` under [reconciler] "
    "in reconciler.toml if you trust every spec"
)


def finish_entries(
    partials: Sequence[FileEntry], errors: list[SpecError], *, roots: Sequence[Path] | None
) -> list[SpecEntry]:
    """Entries with their local files hashed; a local file outside `roots` is a mistake (None: any)."""
    entries: list[SpecEntry] = []
    hashed: dict[str, LocalFile | SpecError] = {}
    for part in partials:
        if isinstance(part, SpecEntry):
            entries.append(part)
            continue
        images: list[LocalFile] = []
        params = dict(part.params)
        model = catalog.BY_SLUG[part.model]
        for param, written, spot in part.image_refs:
            path = (Path(spot.path).parent / written).resolve()
            key = f"{param}\0{path}\0{spot}"
            if key not in hashed:
                hashed[key] = _hash_local(model.by_name[param], path, written, spot, roots)
            found = hashed[key]
            if isinstance(found, SpecError):
                errors.append(found)
                break
            images.append(found)
            params[param] = LOCAL_IMAGE_PREFIX + found.sha256
        else:
            params_json = catalog.canonical_json(catalog.identity_params(model, params))
            entries.append(SpecEntry(part.name, part.model, params, params_json, part.tags, part.where, tuple(images)))
    return entries


def _hash_local(
    param: catalog.Param, path: Path, written: str, spot: Location, roots: Sequence[Path] | None
) -> LocalFile | SpecError:
    assert param.local is not None
    name, kind = param.name, param.local.value
    hint = "give an https:// URL or a path relative to the spec file"
    if roots is not None and outside(path, roots):
        # A spec from a pull request must not send a file of the machine running it to the API.
        where = ", ".join(display_path(root) for root in roots)
        return SpecError(
            spot,
            f"{name}: local {kind} {written!r} resolves to {path}, outside the spec directory ({where}); "
            "it would be uploaded to the API",
            OUTSIDE_HINT,
        )
    try:
        data = read_regular(path, MAX_MEDIA_BYTES)
    except FileNotFoundError:
        return SpecError(spot, f"{name}: local {kind} {written!r} does not exist", hint)
    except Refused as exc:
        return SpecError(spot, f"{name}: local {kind} {written!r} {exc.reason}", hint)
    except OSError as exc:
        return SpecError(spot, f"{name}: cannot read {written!r}: {exc.strerror}", hint)
    found = media_type(param.local, data)
    if found is None:
        return SpecError(spot, f"{name}: {written!r} is not {ACCEPTED[param.local]}", "check the file's contents")
    return LocalFile(name, str(path), hashlib.sha256(data).hexdigest(), found)
