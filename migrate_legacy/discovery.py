"""Finding campaigns in a legacy storage root (docs/legacy-format.md#discovery): the three layout
generations, the global folders that are not campaigns, and the orphans that only look like one."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from migrate_legacy.naming import l1_parts, legacy_id_of_dir
from migrate_legacy.sources import SourceFile, is_present, source_file, walk

GLOBAL_FOLDERS: Final = frozenset(
    {"campaigns", "characters", "character_profiles", "npc_profiles", "pregenerated", "shared"}
)
CAMPAIGN_MARKERS: Final = (
    "metadata.json",
    "logs/chat_history.json",
    "chat_history.json",
    "data/campaign_data.json",
)
L1_FOLDERS: Final = ("logs", "data")
PREGENERATED: Final = "pregenerated"
LAYOUT_RANK: Final = {"L3": 3, "L2": 2, "L1": 1}


class UnknownEnvironment(ValueError):
    """``--env`` names no directory under ``campaigns/``."""


@dataclass
class Candidate:
    """One campaign found on disk, before anything of it is read."""

    legacy_id: str
    layout: str  # L1 | L2 | L3
    source: str  # the campaign folder, or the L1 log file, relative to the storage root
    files: list[SourceFile]
    dir_name: str | None = None
    env: str | None = None
    slug: str | None = None  # L1 only: the file name's slug


@dataclass
class Orphan:
    """A folder or file that looked like a campaign but is not one: all its files are rejected."""

    source: str
    layout: str
    files: list[SourceFile]


@dataclass
class GlobalItem:
    path: str
    kind: str
    root: str = "storage"


@dataclass
class Discovery:
    campaigns: list[Candidate] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    global_items: list[GlobalItem] = field(default_factory=list)
    skipped_environments: list[str] = field(default_factory=list)


def discover(root: Path, *, env: str | None = None, images: Path | None = None) -> Discovery:
    """Every campaign, orphan and global folder under ``root`` (and ``images``), sorted."""
    found = Discovery()
    for entry in _entries(root):
        name, path = entry.name, Path(entry.path)
        if name == "campaigns" and entry.is_dir(follow_symlinks=False):
            _scan_container(root, path, env, found)
        elif name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            found.global_items.append(GlobalItem(name, "checkout_metadata"))
        elif name in GLOBAL_FOLDERS:
            found.global_items.append(GlobalItem(name, "global_folder"))
        else:
            _candidate(root, path, "L3", None, found)
    if images is not None and (images / "metadata").is_dir():
        found.global_items.append(GlobalItem("metadata", "image_metadata", root="images"))
    return found


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as scan:
        return sorted(scan, key=lambda entry: entry.name)


def _scan_container(root: Path, container: Path, env: str | None, found: Discovery) -> None:
    environments: list[Path] = []
    for entry in _entries(container):
        path = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False):
            found.global_items.append(GlobalItem(f"campaigns/{entry.name}", "container_file"))
        elif entry.name not in L1_FOLDERS:
            environments.append(path)
    if env is not None and env not in {p.name for p in environments}:
        raise UnknownEnvironment(f"--env {env!r}: there is no directory campaigns/{env}/")
    _scan_l1(root, container, found)
    for env_dir in environments:
        if env is not None and env_dir.name != env:
            found.skipped_environments.append(env_dir.name)
            continue
        for entry in _entries(env_dir):
            path = Path(entry.path)
            if not entry.is_dir(follow_symlinks=False):
                found.orphans.append(
                    Orphan(_rel(path, root), "L2", [source_file(path, root, root)])
                )
            elif entry.name == PREGENERATED:
                found.global_items.append(GlobalItem(_rel(path, root), "pregenerated"))
            else:
                _candidate(root, path, "L2", env_dir.name, found)


def _candidate(root: Path, folder: Path, layout: str, env: str | None, found: Discovery) -> None:
    files = walk(folder, root, folder)
    source = _rel(folder, root)
    if not any(is_present(folder / marker) for marker in CAMPAIGN_MARKERS):
        found.orphans.append(Orphan(source, layout, files))
        return
    found.campaigns.append(
        Candidate(
            legacy_id=legacy_id_of_dir(folder.name),
            layout=layout,
            source=source,
            files=files,
            dir_name=folder.name,
            env=env,
        )
    )


def _scan_l1(root: Path, container: Path, found: Discovery) -> None:
    """``campaigns/logs/campaign_<N>[_<slug>].json``, each with its optional data file."""
    logs = walk(container / "logs", root, root) if (container / "logs").is_dir() else []
    data = walk(container / "data", root, root) if (container / "data").is_dir() else []
    data_by_name = {f.path.name: f for f in data if f.path.parent == container / "data"}
    claimed: set[str] = set()
    campaigns: list[tuple[SourceFile, str, str | None]] = []
    for log in logs:
        parts = l1_parts(log.path.stem) if log.path.suffix == ".json" else None
        if parts is None or log.path.parent != container / "logs":
            found.orphans.append(Orphan(log.rel, "L1", [log]))
            continue
        campaigns.append((log, parts[0], parts[1]))
    # Exact ``<stem>_data.json`` names first, so a fallback never takes another log's own file.
    attached: dict[str, SourceFile] = {}
    for names in (lambda log, _: f"{log.path.stem}_data.json", lambda _, lid: f"{lid}_data.json"):
        for log, legacy_id, _slug in campaigns:
            name = names(log, legacy_id)
            if log.rel not in attached and name in data_by_name and name not in claimed:
                attached[log.rel] = data_by_name[name]
                claimed.add(name)
    for log, legacy_id, slug in campaigns:
        files = [log] + ([attached[log.rel]] if log.rel in attached else [])
        found.campaigns.append(Candidate(legacy_id, "L1", log.rel, files, slug=slug))
    for leftover in data:
        if leftover.path.name not in claimed or leftover.path.parent != container / "data":
            found.orphans.append(Orphan(leftover.rel, "L1", [leftover]))


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
