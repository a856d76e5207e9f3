"""Realistic synthetic telemetry with the extension's shape and rhythm (contract §4).

A pure, deterministic function of a :class:`SyntheticSpec`: the same spec gives byte-identical
events. Nothing here touches the lake or the database; ``devflow generate`` writes the output
through the ingest path (:mod:`devflow.analytics.generate`).

What the data looks like:

- every user has a project (workspace, files, languages), an OS (path shapes), a time zone and
  working hours; weekdays are worked, weekends rarely;
- a working day is a few blocks of activity; a pause of more than 30 minutes rotates the session
  id, as the extension does, and every block starts a new one;
- ``text_change`` events are keystroke-level: typing runs of single characters, Enter (one line
  more), backspaces, multi-cursor edits, pastes of several lines (range ``[l–l]``, lines ``+k``)
  and their undo (range ``[l–l+k]``, lines ``−k``), block deletions and replacements. Each event's
  ``file.lines`` is consistent with the previous one, so the line-delta metric is exact;
- ``editor_switch`` events carry ``from``/``to`` with modules, and a rapid-switching flag computed
  the way the extension does (more than 5 switches within the last 60 s, this one included);
- saves, terminals, debug launches and git changed-file counts are sprinkled in;
- a few *planted* users behave so that each insight rule fires for them: very long sessions,
  high churn, delete-heavy rewriting and rapid context switching (see :func:`planted_users`).
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

REGULAR = "regular"
VERY_LONG_SESSION = "very_long_session"
HIGH_CHURN = "high_churn"
DELETE_HEAVY_REWRITING = "delete_heavy_rewriting"
RAPID_CONTEXT_SWITCHING = "rapid_context_switching"
#: The personas planted so that one insight rule fires for them (rule names of contract §7.2).
PLANTED_PERSONAS: tuple[str, ...] = (
    VERY_LONG_SESSION,
    HIGH_CHURN,
    DELETE_HEAVY_REWRITING,
    RAPID_CONTEXT_SWITCHING,
)

SESSION_IDLE_ROTATION_MS = 30 * 60 * 1000  # the extension starts a new session after 30 idle minutes
RAPID_WINDOW_MS = 60_000
RAPID_MIN_SWITCHES = 6  # "more than 5 switches within the last 60 s, this one included"
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """What to generate. ``end_date`` is the last local working day (inclusive)."""

    users: int = 20
    days: int = 7
    seed: int = 0
    end_date: date = date(2026, 5, 14)
    planted_per_rule: int = 1  # users per planted persona (only when there are enough users)
    intensity: float = 1.0  # scales how often developers act (events per hour)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file of a user's project: where it lives and how big it starts."""

    name: str
    path: str  # relative to its folder, or absolute (outside every folder)
    absolute_path: str
    extension: str
    language: str
    workspace: str  # the folder that contains it
    base_lines: int
    module: str


@dataclass(frozen=True, slots=True)
class SyntheticUser:
    """One developer: identity (for the users table), persona and habits."""

    index: int
    user_id: uuid.UUID
    username: str
    email: str
    persona: str
    utc_offset_hours: int
    start_hour: float  # local time the day usually starts
    os: str  # linux | mac | windows
    workspace: str
    files: tuple[SourceFile, ...]
    works_weekends: bool


@dataclass(slots=True)
class UserDay:
    """The events of one user's local working day, oldest first (several sessions)."""

    user: SyntheticUser
    day: date
    events: list[dict[str, Any]]
    session_ids: list[str] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)  # each event's time, epoch milliseconds


@dataclass(slots=True)
class SyntheticDataset:
    """Everything :func:`generate` produced, with the planted users for tests to check."""

    spec: SyntheticSpec
    users: list[SyntheticUser]
    days: list[UserDay]

    @property
    def planted(self) -> dict[str, list[SyntheticUser]]:
        """Persona (rule name) → the users planted to trip that rule."""
        return planted_users(self.users)

    def events(self) -> Iterator[tuple[SyntheticUser, dict[str, Any]]]:
        """Every (user, event) pair, user-day by user-day."""
        for user_day in self.days:
            for event in user_day.events:
                yield user_day.user, event

    @property
    def event_count(self) -> int:
        """Total number of events."""
        return sum(len(d.events) for d in self.days)


# --------------------------------------------------------------------------- projects and users

# (workspace, [(path, language, base lines)]) — shapes of real projects.
_PROJECTS: tuple[tuple[str, tuple[tuple[str, str, int], ...]], ...] = (
    (
        "acme-web",
        (
            ("src/components/Header.tsx", "typescriptreact", 88),
            ("src/components/Footer.tsx", "typescriptreact", 54),
            ("src/services/api.ts", "typescript", 142),
            ("src/hooks/useSession.ts", "typescript", 57),
            ("src/main.tsx", "typescriptreact", 31),
            ("src/styles/app.css", "css", 210),
            ("tests/api.test.ts", "typescript", 120),
            ("package.json", "json", 41),
            ("README.md", "markdown", 64),
            ("Dockerfile", "dockerfile", 18),
            (".env.example", "dotenv", 9),
        ),
    ),
    (
        "billing-service",
        (
            ("app/main.py", "python", 96),
            ("app/models.py", "python", 240),
            ("app/api/routes.py", "python", 310),
            ("app/services/invoices.py", "python", 185),
            ("tests/test_routes.py", "python", 220),
            ("pyproject.toml", "toml", 58),
            (".github/workflows/ci.yml", "yaml", 44),
            ("README.md", "markdown", 80),
            ("Dockerfile", "dockerfile", 22),
        ),
    ),
    (
        "edge-proxy",
        (
            ("cmd/proxy/main.go", "go", 120),
            ("internal/router/router.go", "go", 260),
            ("internal/router/router_test.go", "go", 190),
            ("internal/config/config.go", "go", 88),
            ("go.mod", "go.mod", 19),
            ("Makefile", "makefile", 35),
            ("README.md", "markdown", 50),
        ),
    ),
    (
        "mobile-app",
        (
            ("src/screens/Home.kt", "kotlin", 170),
            ("src/screens/Settings.kt", "kotlin", 140),
            ("src/data/Repository.kt", "kotlin", 210),
            ("build.gradle.kts", "kotlin", 66),
            ("src/test/RepositoryTest.kt", "kotlin", 130),
            ("README.md", "markdown", 40),
        ),
    ),
)
_SHARED_FOLDER = ("shared-lib", (("src/index.ts", "typescript", 45), ("src/format.ts", "typescript", 73)))
_FIRST_NAMES = (
    "dana", "lee", "sam", "alex", "kim", "robin", "noa", "ari", "jo", "mika",
    "pat", "sky", "eli", "rae", "ash", "max", "ivy", "ben", "zoe", "kai",
)  # fmt: skip
_EXT_OF = {"Dockerfile": "", "Makefile": "", ".env.example": ".example", ".zshrc": ""}


def _extension(name: str) -> str:
    if name in _EXT_OF:
        return _EXT_OF[name]
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def module_of(path: str) -> str:
    """The extension's module: the first path segment, or ``src/<second>`` under ``src``."""
    if path.startswith("/"):
        path = path[1:]
    parts = path.split("/")
    if parts[0] == "src" and len(parts) > 1:
        return f"src/{parts[1]}"
    return parts[0]


def _absolute(os_name: str, username: str, folder: str, path: str) -> str:
    if os_name == "windows":
        return "c:\\Users\\" + username + "\\code\\" + folder + "\\" + path.replace("/", "\\")
    root = "/Users" if os_name == "mac" else "/home"
    sub = "code" if os_name == "mac" else "projects"
    return f"{root}/{username}/{sub}/{folder}/{path}"


def _source_file(
    os_name: str, username: str, folder: str, path: str, language: str, lines: int
) -> SourceFile:
    name = path.rsplit("/", 1)[-1]
    return SourceFile(
        name=name,
        path=path,
        absolute_path=_absolute(os_name, username, folder, path),
        extension=_extension(name),
        language=language,
        workspace=folder,
        base_lines=lines,
        module=module_of(path),
    )


def _outside_files(os_name: str, username: str, workspace: str) -> list[SourceFile]:
    """Files opened outside every workspace folder: their ``path`` is absolute (contract §4.3)."""
    if os_name == "windows":
        out = []
        for name, language, lines in (("notes.md", "markdown", 25), ("cleanup.ps1", "powershell", 30)):
            path = f"c:/Users/{username}/Desktop/{name}"
            out.append(
                SourceFile(
                    name=name,
                    path=path,
                    absolute_path=f"c:\\Users\\{username}\\Desktop\\{name}",
                    extension=_extension(name),
                    language=language,
                    workspace=workspace,
                    base_lines=lines,
                    module="c:",
                )
            )
        return out
    home = f"/Users/{username}" if os_name == "mac" else f"/home/{username}"
    return [
        SourceFile(
            name=".zshrc",
            path=f"{home}/.zshrc",
            absolute_path=f"{home}/.zshrc",
            extension="",
            language="shellscript",
            workspace=workspace,
            base_lines=60,
            module=module_of(home),
        )
    ]


def _uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def plan_users(spec: SyntheticSpec) -> list[SyntheticUser]:
    """The users of a spec: personas (planted ones first, when there are enough users) and habits."""
    planted: list[str] = []
    if spec.users >= 2 * len(PLANTED_PERSONAS):
        for persona in PLANTED_PERSONAS:
            planted.extend([persona] * spec.planted_per_rule)
    users = []
    for index in range(spec.users):
        rng = random.Random(f"devflow-user:{spec.seed}:{index}")
        persona = planted[index] if index < len(planted) else REGULAR
        first = _FIRST_NAMES[index % len(_FIRST_NAMES)]
        username = f"{first}{index:04d}"
        os_name = rng.choices(("linux", "mac", "windows"), weights=(5, 4, 2))[0]
        workspace, templates = _PROJECTS[rng.randrange(len(_PROJECTS))]
        files = [_source_file(os_name, username, workspace, p, lang, n) for p, lang, n in templates]
        if rng.random() < 0.25:  # a multi-root window: a second folder with its own files
            folder, shared = _SHARED_FOLDER
            files.extend(_source_file(os_name, username, folder, p, lang, n) for p, lang, n in shared)
        files.extend(_outside_files(os_name, username, workspace))
        users.append(
            SyntheticUser(
                index=index,
                user_id=_uuid4(rng),
                username=username,
                email=f"{username}@devflow.example",
                persona=persona,
                utc_offset_hours=rng.choice((-8, -7, -5, -4, 0, 1, 1, 2, 2, 3, 5, 8, 9)),
                start_hour=rng.uniform(7.5, 10.5),
                os=os_name,
                workspace=workspace,
                files=tuple(files),
                works_weekends=rng.random() < 0.2,
            )
        )
    return users


def planted_users(users: list[SyntheticUser]) -> dict[str, list[SyntheticUser]]:
    """Persona (rule name) → the users planted to trip that rule."""
    out: dict[str, list[SyntheticUser]] = {persona: [] for persona in PLANTED_PERSONAS}
    for user in users:
        if user.persona in out:
            out[user.persona].append(user)
    return out


# --------------------------------------------------------------------------- one working day

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_PREFIX: dict[int, str] = {}


def _iso_ms(ms: int) -> str:
    """Extension format ``2026-05-14T09:12:08.829Z`` without building a datetime per event."""
    minute, rest = divmod(ms, 60_000)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        prefix = (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        if len(_MINUTE_PREFIX) > 200_000:  # bounded: one entry per minute of activity
            _MINUTE_PREFIX.clear()
        _MINUTE_PREFIX[minute] = prefix
    return f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"


@dataclass(slots=True)
class _Profile:
    """How a persona behaves, as activity weights and limits."""

    blocks: list[tuple[float, float]]  # (min, max) minutes of each working block
    pause_max_min: float  # short pauses inside a block stay below the rotation gap
    rapid_burst: float  # chance per activity of a rapid switching burst
    churn_cap: float | None  # today's deleted/added stays below this (None: no guard)
    block_delete: float
    block_delete_lines: tuple[int, int]
    paste_undo: float


def _profile(persona: str, rng: random.Random) -> _Profile:
    if persona == VERY_LONG_SESSION:
        return _Profile([(255, 330), (60, 120)], 20, 0.005, 0.3, 0.03, (2, 6), 0.2)
    if persona == RAPID_CONTEXT_SWITCHING:
        return _Profile([(60, 100), (50, 95), (40, 80)], 12, 0.35, 0.3, 0.03, (2, 6), 0.2)
    if persona == HIGH_CHURN:
        return _Profile([(70, 110), (60, 110)], 12, 0.005, 0.85, 0.35, (3, 12), 0.9)
    if persona == DELETE_HEAVY_REWRITING:
        return _Profile([(70, 110), (60, 110)], 12, 0.005, None, 0.3, (8, 30), 0.3)
    blocks = [(75.0, 150.0), (60.0, 140.0)]
    if rng.random() < 0.4:
        blocks.append((30.0, 75.0))  # a late-afternoon block after a long break
    if rng.random() < 0.12:
        blocks.append((15.0, 45.0))  # an evening session
    # most developers keep churn low; some days are messier than others
    return _Profile(blocks, 14, 0.01, rng.uniform(0.1, 0.5), 0.05, (2, 6), 0.25)


@dataclass(slots=True)
class _FileState:
    lines: int
    size: int
    last_edit_ms: int | None = None  # per session: the extension's edit_duration_ms
    has_baseline: bool = False  # a text_change/file_save with lines seen in this session


class _DayWriter:
    """Builds one user's events for one day, tracking the state the extension would see."""

    def __init__(self, user: SyntheticUser, rng: random.Random, profile: _Profile) -> None:
        self.user = user
        self.rng = rng
        self.profile = profile
        self.events: list[dict[str, Any]] = []
        self.stamps: list[int] = []
        self.session_ids: list[str] = []
        self.files = {
            f.path: _FileState(
                lines=max(1, f.base_lines + rng.randint(-5, 15)),
                size=max(1, f.base_lines + 5) * rng.randint(26, 38),
            )
            for f in user.files
        }
        self.session_id = ""
        self.current: SourceFile | None = None
        self.last_switch_ms: int | None = None
        self.switch_times: deque[int] = deque()
        self.dirty: set[str] = set()
        self.git_count = 0
        # line-delta totals per UTC day (what the metrics ETL will compute), for the churn guard
        self.added: dict[int, int] = {}
        self.deleted: dict[int, int] = {}

    # -- sessions -----------------------------------------------------------------------------
    def new_session(self) -> None:
        self.session_id = str(_uuid4(self.rng))
        self.session_ids.append(self.session_id)
        self.current = None
        self.last_switch_ms = None
        self.switch_times.clear()
        for state in self.files.values():
            state.last_edit_ms = None
            state.has_baseline = False

    # -- event builders -----------------------------------------------------------------------
    def _base(self, kind: str, ms: int) -> dict[str, Any]:
        self.stamps.append(ms)  # every event built here is appended next, in this order
        return {"type": kind, "timestamp": _iso_ms(ms), "workspace": self.user.workspace}

    def _file_obj(self, f: SourceFile, state: _FileState) -> dict[str, Any]:
        return {
            "name": f.name,
            "path": f.path,
            "absolute_path": f.absolute_path,
            "extension": f.extension,
            "language": f.language,
            "workspace": f.workspace,
            "lines": state.lines,
            "size_bytes": state.size,
        }

    def switch(self, ms: int, target: SourceFile) -> None:
        """An ``editor_switch`` to ``target`` with the extension's rapid-switching flag."""
        event = self._base("editor_switch", ms)
        previous = self.current
        if previous is not None:
            event["from"] = {"file": previous.path, "language": previous.language, "module": previous.module}
        event["to"] = {"file": target.path, "language": target.language, "module": target.module}
        interval = 0 if self.last_switch_ms is None else (ms - self.last_switch_ms) // 1000
        times = self.switch_times
        times.append(ms)
        while times and times[0] <= ms - RAPID_WINDOW_MS:
            times.popleft()
        event["metrics"] = {
            "switch_interval_seconds": interval,
            "is_cross_module_switch": previous is not None and previous.module != target.module,
            "is_rapid_context_switching": len(times) >= RAPID_MIN_SWITCHES,
        }
        event["session_id"] = self.session_id
        self.events.append(event)
        self.last_switch_ms = ms
        self.current = target

    def edit(
        self,
        ms: int,
        f: SourceFile,
        added_chars: int,
        deleted_chars: int,
        ranges: list[tuple[int, int]],
        line_change: int,
        *,
        undo: bool = False,
    ) -> None:
        """One ``text_change``: ``line_change`` is the document's line-count change."""
        state = self.files[f.path]
        had_baseline = state.has_baseline
        state.lines = max(1, state.lines + line_change)
        state.size = max(0, state.size + added_chars - deleted_chars)
        duration = 0 if state.last_edit_ms is None else ms - state.last_edit_ms
        state.last_edit_ms = ms
        state.has_baseline = True
        self.stamps.append(ms)
        # One literal per event (the hot path of the generator), keys in the extension's order.
        self.events.append(
            {
                "type": "text_change",
                "timestamp": _iso_ms(ms),
                "workspace": self.user.workspace,
                "file": {
                    "name": f.name,
                    "path": f.path,
                    "absolute_path": f.absolute_path,
                    "extension": f.extension,
                    "language": f.language,
                    "workspace": f.workspace,
                    "lines": state.lines,
                    "size_bytes": state.size,
                },
                "metrics": {
                    "characters_added": added_chars,
                    "characters_deleted": deleted_chars,
                    "change_count": len(ranges),
                    "affected_line_ranges": [{"start": s, "end": e} for s, e in ranges]
                    if len(ranges) > 1
                    else [{"start": ranges[0][0], "end": ranges[0][1]}],
                    "edit_duration_ms": duration,
                    "is_large_paste": added_chars > 100,
                    "is_possible_rewrite": added_chars > 50 and deleted_chars > 50,
                    "is_possible_undo_cycle": undo,
                },
                "session_id": self.session_id,
            }
        )
        # line-delta bookkeeping, exactly as contract §6.1 computes it from these events
        replaced = ranges[0][1] - ranges[0][0] if len(ranges) == 1 else sum(e - s for s, e in ranges)
        day = ms // _DAY_MS
        self.deleted[day] = self.deleted.get(day, 0) + replaced
        if had_baseline:
            k = line_change + replaced
            if 0 <= k <= added_chars:
                self.added[day] = self.added.get(day, 0) + k

    def churn_allows(self, ms: int, deleted_lines: int, added_lines: int = 0) -> bool:
        """Whether an edit deleting lines keeps today's churn ratio under the persona's cap."""
        return deleted_lines <= self.churn_budget(ms, added_lines)

    def churn_budget(self, ms: int, added_lines: int = 0) -> int:
        """How many lines may still be deleted today without passing the persona's churn cap."""
        cap = self.profile.churn_cap
        if cap is None:
            return 1 << 30
        day = ms // _DAY_MS
        return int(cap * (self.added.get(day, 0) + added_lines)) - self.deleted.get(day, 0)

    def save(self, ms: int, f: SourceFile) -> int:
        state = self.files[f.path]
        event = self._base("file_save", ms)
        event["file"] = self._file_obj(f, state)
        event["session_id"] = self.session_id
        self.events.append(event)
        state.has_baseline = True
        if not f.path.startswith(("/", "c:")) and f.path not in self.dirty:
            self.dirty.add(f.path)
            ms += self.rng.randint(300, 1500)
            self.git(ms, len(self.dirty))
        return ms

    def git(self, ms: int, count: int) -> None:
        if count == self.git_count:
            return  # the extension sends git_activity only when the count changes
        self.git_count = count
        event = self._base("git_activity", ms)
        git: dict[str, Any] = {"changed_files_count": count}
        if self.rng.random() < 0.97:  # absent on a detached HEAD
            git = {"branch": self._branch(), "changed_files_count": count}
        event["git"] = git
        event["session_id"] = self.session_id
        self.events.append(event)

    def _branch(self) -> str:
        return ("main", "feature/session-rotation", "fix/flaky-test", "feature/billing-export")[
            self.user.index % 4
        ]

    def terminal(self, ms: int) -> None:
        event = self._base("terminal_open", ms)
        if self.user.os == "windows":
            terminal: dict[str, Any] = {
                "name": "powershell",
                "shell_type": "C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            }
        elif self.rng.random() < 0.15:
            terminal = {"name": "Task Runner"}  # a pseudo-terminal: no shell_type
        else:
            shell = "/bin/zsh" if self.user.os == "mac" else "/usr/bin/bash"
            terminal = {"name": shell.rsplit("/", 1)[-1], "shell_type": shell}
        event["terminal"] = terminal
        event["session_id"] = self.session_id
        self.events.append(event)

    def debug(self, ms: int) -> int:
        """One launch, which sometimes produces two events (compound configurations)."""
        launches = [("Launch API server", "pwa-node"), ("Launch Chrome against localhost", "pwa-chrome")]
        if self.user.workspace == "billing-service":
            launches = [("Python: FastAPI", "debugpy"), ("Python: pytest", "debugpy")]
        count = 2 if self.rng.random() < 0.3 else 1
        for i in range(count):
            name, kind = launches[i % len(launches)]
            event = self._base("debug_session_start", ms)
            event["debug"] = {"name": name, "type": kind, "launch_configuration_name": name}
            event["session_id"] = self.session_id
            self.events.append(event)
            ms += self.rng.randint(2_000, 30_000)
        return ms

    # -- activities ---------------------------------------------------------------------------
    def pick_file(self) -> SourceFile:
        files = self.user.files
        if self.rng.random() < 0.04:
            outside = [f for f in files if f.path.startswith(("/", "c:"))]
            if outside:
                return self.rng.choice(outside)
        # the first files of a project are the hot ones
        return files[min(len(files) - 1, int(self.rng.expovariate(0.35)))]

    def typing_run(self, ms: int, f: SourceFile) -> int:
        rng = self.rng
        state = self.files[f.path]
        line = rng.randint(1, state.lines)
        random_ = rng.random  # the hot loop: random() is several times cheaper than randint()
        for _ in range(rng.randint(3, 12)):
            ms += 90 + int(random_() * 331)  # 90–420 ms between keystrokes
            roll = random_()
            if roll < 0.12:  # Enter with indentation: one line more
                self.edit(ms, f, 1 + rng.choice((0, 2, 4, 8)), 0, [(line, line)], 1)
                line += 1
            elif roll < 0.22:  # backspace inside the line
                self.edit(ms, f, 0, 1, [(line, line)], 0)
            elif roll < 0.25:  # an autocomplete insertion
                self.edit(ms, f, rng.randint(4, 24), 0, [(line, line)], 0)
            elif roll < 0.26 and state.lines > 70:  # a 3-cursor edit
                ranges = [(line, line), (line + 20, line + 20), (line + 40, line + 40)]
                self.edit(ms, f, 3, 0, ranges if line + 40 <= state.lines else [(line, line)], 0)
            else:
                self.edit(ms, f, 1 if random_() < 0.95 else 2, 0, [(line, line)], 0)
        return ms

    def paste(self, ms: int, f: SourceFile) -> int:
        rng = self.rng
        state = self.files[f.path]
        k = rng.randint(3, 40)
        line = rng.randint(1, state.lines)
        chars = k * rng.randint(22, 48)
        self.edit(ms, f, chars, 0, [(line, line)], k)
        if rng.random() < self.profile.paste_undo and self.churn_allows(ms, k):
            ms += rng.randint(1_500, 12_000)  # Ctrl+Z: the pasted lines come out again
            self.edit(ms, f, 0, chars, [(line, line + k)], -k, undo=True)
        return ms

    def block_delete(self, ms: int, f: SourceFile) -> int:
        rng = self.rng
        state = self.files[f.path]
        low, high = self.profile.block_delete_lines
        k = min(rng.randint(low, high), state.lines - 1, self.churn_budget(ms))
        if k < 1:
            return ms
        line = rng.randint(1, state.lines - k)
        self.edit(ms, f, 0, k * rng.randint(20, 45), [(line, line + k)], -k)
        return ms

    def replace_lines(self, ms: int, f: SourceFile) -> int:
        state = self.files[f.path]
        if state.lines < 4 or not self.churn_allows(ms, 2, 2):
            return ms
        line = self.rng.randint(1, state.lines - 2)
        self.edit(ms, f, 90, 80, [(line, line + 2)], 0)  # lines l..l+2 replaced by 3 new lines
        return ms

    def rapid_burst(self, ms: int) -> int:
        for _ in range(self.rng.randint(7, 14)):
            ms += self.rng.randint(1_500, 7_000)
            self.switch(ms, self.pick_file())
        return ms

    def block(self, start_ms: int, minutes: float, intensity: float) -> int:
        """One block of work: one session, with short pauses only. Returns its last event time."""
        rng = self.rng
        profile = self.profile
        self.new_session()
        end_ms = start_ms + int(minutes * 60_000)
        ms = start_ms
        self.switch(ms, self.pick_file())
        mean_gap_ms = 600_000 / intensity
        while True:
            gap = int(rng.expovariate(1 / mean_gap_ms))
            if rng.random() < 0.05:  # a short pause; a longer one would rotate the session
                gap += int(rng.uniform(2, profile.pause_max_min) * 60_000)
            # Some activities emit nothing: the cap counts from the last event, not the cursor.
            ms = min(ms + gap, self.stamps[-1] + SESSION_IDLE_ROTATION_MS - 60_000)
            if ms >= end_ms:
                break
            roll = rng.random()
            f = self.current if self.current is not None and rng.random() < 0.7 else None
            if roll < profile.rapid_burst:
                ms = self.rapid_burst(ms)
                continue
            if f is None:
                f = self.pick_file()
                self.switch(ms, f)
                ms += rng.randint(800, 6_000)
            if roll < 0.62:
                ms = self.typing_run(ms, f)
            elif roll < 0.70:
                ms = self.paste(ms, f)
            elif roll < 0.70 + profile.block_delete:
                ms = self.block_delete(ms, f)
            elif roll < 0.76 + profile.block_delete:
                ms = self.replace_lines(ms, f)
            elif roll < 0.80 + profile.block_delete:
                self.terminal(ms)
            elif roll < 0.82 + profile.block_delete:
                ms = self.debug(ms)
            elif roll < 0.85 + profile.block_delete and self.dirty:
                self.dirty.clear()  # a commit
                self.git(ms, 0)
            if rng.random() < 0.5 and f is self.current:
                ms = self.save(ms + rng.randint(400, 4_000), f)
        return ms


def _works_on(user: SyntheticUser, day: date, rng: random.Random) -> bool:
    if day.weekday() >= 5:
        return user.works_weekends and rng.random() < 0.5
    return rng.random() < 0.93


def generate_user_day(spec: SyntheticSpec, user: SyntheticUser, day: date) -> UserDay:
    """The events of ``user`` on local day ``day`` (empty on a day off). Deterministic."""
    rng = random.Random(f"devflow-day:{spec.seed}:{user.index}:{day.isoformat()}")
    if not _works_on(user, day, rng):
        return UserDay(user=user, day=day, events=[])
    profile = _profile(user.persona, rng)
    writer = _DayWriter(user, rng, profile)
    local_midnight_ms = (day - date(1970, 1, 1)).days * _DAY_MS
    ms = local_midnight_ms + int((user.start_hour + rng.uniform(-0.5, 0.5)) * 3_600_000)
    ms -= user.utc_offset_hours * 3_600_000
    for low, high in profile.blocks:
        last = writer.block(ms, rng.uniform(low, high), spec.intensity)
        # a break longer than the rotation gap: lunch, a meeting, the commute
        ms = last + SESSION_IDLE_ROTATION_MS + int(rng.uniform(5, 60) * 60_000)
    return UserDay(
        user=user, day=day, events=writer.events, session_ids=writer.session_ids, timestamps_ms=writer.stamps
    )


def day_range(spec: SyntheticSpec) -> list[date]:
    """The local days a spec covers, oldest first."""
    return [spec.end_date - timedelta(days=offset) for offset in range(spec.days - 1, -1, -1)]


def iter_user_days(spec: SyntheticSpec, users: list[SyntheticUser] | None = None) -> Iterator[UserDay]:
    """Every user's days in order (day by day, then user by user); days off are skipped."""
    users = plan_users(spec) if users is None else users
    for day in day_range(spec):
        for user in users:
            user_day = generate_user_day(spec, user, day)
            if user_day.events:
                yield user_day


def generate(spec: SyntheticSpec) -> SyntheticDataset:
    """The whole dataset in memory (tests and notebooks); ``devflow generate`` streams instead."""
    users = plan_users(spec)
    return SyntheticDataset(spec=spec, users=users, days=list(iter_user_days(spec, users)))


def extension_batches(events: list[dict[str, Any]], max_events: int = 5000) -> Iterator[dict[str, Any]]:
    """Split one user's events into payloads as the extension would send them (every 60 s).

    Each payload has the §4.1 top level (``workspace``, ``machine_timestamp``, ``session``);
    the snapshot values are approximate: they feed no computation on the service side.
    """
    batch: list[dict[str, Any]] = []
    window_end: str | None = None
    for event in events:
        stamp = event["timestamp"]
        if batch and (len(batch) >= max_events or (window_end is not None and stamp >= window_end)):
            yield _payload(batch)
            batch = []
        if not batch:
            window_end = _iso_ms(_parse_ms(stamp) + 60_000)
        batch.append(event)
    if batch:
        yield _payload(batch)


def _parse_ms(stamp: str) -> int:
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int((parsed - _EPOCH).total_seconds() * 1000)


def _payload(batch: list[dict[str, Any]]) -> dict[str, Any]:
    last = batch[-1]
    saves = sum(1 for e in batch if e["type"] == "file_save")
    switches = sum(1 for e in batch if e["type"] == "editor_switch")
    return {
        "workspace": last["workspace"],
        "machine_timestamp": _iso_ms(_parse_ms(last["timestamp"]) + 1_000),
        "session": {
            "active_minutes": 1,
            "idle_minutes": 0,
            "total_events_collected": len(batch),
            "save_frequency": saves,
            "editor_switch_frequency": switches,
        },
        "events": batch,
    }
