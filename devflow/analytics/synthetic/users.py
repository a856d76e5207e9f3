"""The synthetic developers: identity, persona, project, OS (path shapes) and working habits."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from devflow.analytics.synthetic.personas import PLANTED_PERSONAS, REGULAR
from devflow.analytics.synthetic.spec import SyntheticSpec


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
    time_zone: str  # IANA name: working hours are local time, daylight saving included
    start_hour: float  # local time the day usually starts
    os: str  # linux | mac | windows
    workspace: str
    files: tuple[SourceFile, ...]
    works_weekends: bool

    @property
    def zone(self) -> ZoneInfo:
        """The user's time zone."""
        return ZoneInfo(self.time_zone)


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

_OPERATING_SYSTEMS = ("linux", "mac", "windows")
_OS_WEIGHTS = (5, 4, 2)  # developer machines: Linux and macOS first, Windows a minority
_MULTI_ROOT_SHARE = 0.25  # windows that also open a shared library folder
# Where the population works, weighted roughly by where developers are; zones with daylight saving
# on both hemispheres, and offsets that are not whole hours (India, Nepal).
_TIME_ZONES: tuple[tuple[str, int], ...] = (
    ("America/Los_Angeles", 3),
    ("America/Denver", 1),
    ("America/Chicago", 1),
    ("America/New_York", 3),
    ("America/Sao_Paulo", 1),
    ("Europe/London", 2),
    ("Europe/Berlin", 3),
    ("Europe/Paris", 1),
    ("Europe/Warsaw", 1),
    ("Africa/Lagos", 1),
    ("Asia/Kolkata", 2),
    ("Asia/Kathmandu", 1),
    ("Asia/Singapore", 1),
    ("Asia/Tokyo", 1),
    ("Australia/Sydney", 1),
)
_ZONE_NAMES = tuple(name for name, _ in _TIME_ZONES)
_ZONE_WEIGHTS = tuple(weight for _, weight in _TIME_ZONES)
_START_HOURS = (7.5, 10.5)  # when a developer's day usually starts, local time
_WEEKEND_WORKER_SHARE = 0.2
#: Planted personas only go into a population with at least this many regular developers around them.
MIN_REGULAR_USERS = 4


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


def is_outside(f: SourceFile) -> bool:
    """Whether ``f`` lies outside every workspace folder (its ``path`` is absolute)."""
    return f.path.startswith(("/", "c:"))


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


def uuid4_from(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from ``rng`` (deterministic, unlike :func:`uuid.uuid4`)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _personas(spec: SyntheticSpec) -> list[str]:
    """The persona of each user index: the planted ones first, when the population is big enough."""
    planted = [persona for persona in PLANTED_PERSONAS for _ in range(spec.planted_per_rule)]
    if spec.users < len(planted) + MIN_REGULAR_USERS:
        planted = []
    return planted + [REGULAR] * (spec.users - len(planted))


def plan_users(spec: SyntheticSpec) -> list[SyntheticUser]:
    """The users of a spec: personas (planted ones first, when there are enough users) and habits."""
    users = []
    for index, persona in enumerate(_personas(spec)):
        rng = random.Random(f"devflow-user:{spec.seed}:{index}")
        first = _FIRST_NAMES[index % len(_FIRST_NAMES)]
        username = f"{first}{index:04d}"
        os_name = rng.choices(_OPERATING_SYSTEMS, weights=_OS_WEIGHTS)[0]
        workspace, templates = _PROJECTS[rng.randrange(len(_PROJECTS))]
        files = [_source_file(os_name, username, workspace, p, lang, n) for p, lang, n in templates]
        if rng.random() < _MULTI_ROOT_SHARE:
            folder, shared = _SHARED_FOLDER
            files.extend(_source_file(os_name, username, folder, p, lang, n) for p, lang, n in shared)
        files.extend(_outside_files(os_name, username, workspace))
        users.append(
            SyntheticUser(
                index=index,
                user_id=uuid4_from(rng),
                username=username,
                email=f"{username}@devflow.example",
                persona=persona,
                time_zone=rng.choices(_ZONE_NAMES, weights=_ZONE_WEIGHTS)[0],
                start_hour=rng.uniform(*_START_HOURS),
                os=os_name,
                workspace=workspace,
                files=tuple(files),
                works_weekends=rng.random() < _WEEKEND_WORKER_SHARE,
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
