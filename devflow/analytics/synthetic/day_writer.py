"""The events of one user's working day, with the extension's shapes and the state it tracks.

``text_change`` events are keystroke-level: typing runs of single characters, Enter (one line more),
backspaces, autocompletions, multi-cursor edits, pastes of several lines (range ``[l–l]``, lines
``+k``) and their undo (range ``[l–l+k]``, lines ``−k``), block deletions and replacements. Each
event's ``file.lines`` is consistent with the previous one, so the line-delta metric is exact.
``editor_switch`` events carry ``from``/``to`` with modules and the rapid-switching flag; saves,
terminals, debug launches and git changed-file counts are sprinkled in.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from devflow.analytics.synthetic.extension import (
    LARGE_PASTE_CHARS,
    RAPID_MIN_SWITCHES,
    RAPID_WINDOW_MS,
    REWRITE_CHARS,
    SESSION_IDLE_ROTATION_MS,
    iso_ms,
)
from devflow.analytics.synthetic.personas import PersonaProfile
from devflow.analytics.synthetic.users import SourceFile, SyntheticUser, is_outside, uuid4_from

_DAY_MS = 86_400_000
_MINUTE_MS = 60_000

# -- the rhythm of a session
ACTIVITY_MEAN_GAP_MS = 600_000  # mean time between two activities at intensity 1 (exponential)
SHORT_PAUSE_CHANCE = 0.05  # an activity preceded by a short pause (coffee, a colleague)
SHORT_PAUSE_MIN_MIN = 2.0  # shortest short pause; the persona sets the longest
IDLE_MARGIN_MS = 60_000  # keeps every in-session gap this far below the rotation gap
STAY_ON_FILE_CHANCE = 0.7  # the next activity happens in the file already open
SWITCH_SETTLE_MS = (800, 6_000)  # from opening a file to the first edit in it
SAVE_AFTER_ACTIVITY_CHANCE = 0.5  # Ctrl+S is a habit after an edit, not a rule
SAVE_DELAY_MS = (400, 4_000)  # the save follows the edit it keeps

# -- what one activity is: shares of the unit interval, in this order (the rest: reading, thinking)
TYPING_SHARE = 0.62  # most of the time goes into typing
PASTE_SHARE = 0.08  # code copied from elsewhere: the large, line-adding edits
REPLACE_SHARE = 0.06  # select a few lines and type over them
TERMINAL_SHARE = 0.04  # running tests or a build now and then
DEBUG_SHARE = 0.02  # debugging is rarer than running
COMMIT_SHARE = 0.03  # only when there are changed files

# -- typing runs
KEYSTROKES_PER_RUN = (3, 12)  # a word or a short statement between two pauses
KEYSTROKE_GAP_MS = (90, 420)  # between two keystrokes of a run
ENTER_CHANCE = 0.12  # Enter with indentation: one line more
BACKSPACE_CHANCE = 0.10  # typos, fixed on the spot
AUTOCOMPLETE_CHANCE = 0.03  # an accepted suggestion inserts a whole identifier
MULTI_CURSOR_CHANCE = 0.01  # rare, but the change_count > 1 shape must occur
ENTER_INDENTS = (0, 2, 4, 8)  # the editor indents the new line: more characters than lines
AUTOCOMPLETE_CHARS = (4, 24)  # identifier lengths
MULTI_CURSOR_CURSORS = 3  # e.g. renaming three occurrences at once
MULTI_CURSOR_SPACING = 20  # lines between two cursors
MULTI_CURSOR_MIN_LINES = 70  # small files rarely get multi-cursor edits
SINGLE_CHAR_CHANCE = 0.95  # the other keystrokes insert two units (a surrogate pair, an auto-closed pair)

# -- pastes, deletions, replacements
PASTE_LINES = (3, 40)  # a snippet to a whole function
CHARS_PER_LINE = (22, 48)  # characters of a pasted line
DELETED_CHARS_PER_LINE = (20, 45)  # code lines, indentation included
UNDO_DELAY_MS = (1_500, 12_000)  # from a paste to its Ctrl+Z
REPLACED_LINES = 2  # lines l..l+2 become three new lines
REPLACE_ADDED_CHARS = 90  # both above the extension's rewrite threshold
REPLACE_DELETED_CHARS = 80

# -- switching, files, tools
RAPID_BURST_GAP_MS = (1_500, 7_000)  # a glance at each file: fast enough to be flagged rapid
OUTSIDE_FILE_CHANCE = 0.04  # a file outside every folder (dotfiles, notes)
HOT_FILE_DECAY = 0.35  # exponential rate over the file list: the first files are the hot ones
INITIAL_LINES_JITTER = (-5, 15)  # a file's size when the day starts, around its base size
BYTES_PER_LINE = (26, 38)  # average source line lengths, for size_bytes
SIZE_EXTRA_LINES = 5  # a file's size counts a few lines more than its code (headers, blank lines)
GIT_AFTER_SAVE_MS = (300, 1_500)  # the git extension notices a newly changed file
BRANCH_PRESENT_CHANCE = 0.97  # the branch is absent on a detached HEAD
# one branch per user, so the git_branch column has a few realistic values
BRANCHES = ("main", "feature/session-rotation", "fix/flaky-test", "feature/billing-export")
TASK_RUNNER_CHANCE = 0.15  # a pseudo-terminal without a shell
COMPOUND_LAUNCH_CHANCE = 0.3  # a compound launch configuration starts two debug sessions
DEBUG_STEP_MS = (2_000, 30_000)  # a launch takes seconds before the next thing happens


@dataclass(slots=True)
class SessionSummary:
    """One session as the writer built it: its span, its line-delta totals (as the ETL computes them
    from the events) and its flagged rapid switches."""

    session_id: str
    first_ms: int
    last_ms: int
    lines_added: int = 0
    lines_deleted: int = 0
    rapid_switches: int = 0

    @property
    def duration_ms(self) -> int:
        """Last event minus first event."""
        return self.last_ms - self.first_ms


@dataclass(slots=True)
class _FileState:
    lines: int
    size: int
    last_edit_ms: int | None = None  # per session: the extension's edit_duration_ms
    has_baseline: bool = False  # a text_change/file_save with lines seen in this session


class DayWriter:
    """Builds one user's events for one day, tracking the state the extension would see."""

    def __init__(self, user: SyntheticUser, rng: random.Random, profile: PersonaProfile) -> None:
        self.user = user
        self.rng = rng
        self.profile = profile
        self.events: list[dict[str, Any]] = []
        self.stamps: list[int] = []
        self.session_ids: list[str] = []
        self.sessions: list[SessionSummary] = []
        self.files = {
            f.path: _FileState(
                lines=max(1, f.base_lines + rng.randint(*INITIAL_LINES_JITTER)),
                size=max(1, f.base_lines + SIZE_EXTRA_LINES) * rng.randint(*BYTES_PER_LINE),
            )
            for f in user.files
        }
        self.session_id = ""
        self.summary = SessionSummary("", 0, 0)  # the current session's, once one starts
        self.current: SourceFile | None = None
        self.last_switch_ms: int | None = None
        self.switch_times: deque[int] = deque()
        self.dirty: set[str] = set()
        self.git_count = 0
        # line-delta totals per UTC day (what the metrics ETL will compute), for the churn guard
        self.added: dict[int, int] = {}
        self.deleted: dict[int, int] = {}
        # cumulative bounds of the activity shares (the persona's block deletions after pastes)
        bounds = []
        edge = 0.0
        for share in (TYPING_SHARE, PASTE_SHARE, profile.block_delete, REPLACE_SHARE):
            edge += share
            bounds.append(edge)
        for share in (TERMINAL_SHARE, DEBUG_SHARE, COMMIT_SHARE):
            edge += share
            bounds.append(edge)
        self.bounds = tuple(bounds)

    # -- sessions -----------------------------------------------------------------------------
    def new_session(self, start_ms: int) -> None:
        """Start a new session id: what the extension does after a long idle gap."""
        self.session_id = str(uuid4_from(self.rng))
        self.session_ids.append(self.session_id)
        self.summary = SessionSummary(self.session_id, start_ms, start_ms)
        self.sessions.append(self.summary)
        self.current = None
        self.last_switch_ms = None
        self.switch_times.clear()
        for state in self.files.values():
            state.last_edit_ms = None
            state.has_baseline = False

    # -- event builders -----------------------------------------------------------------------
    def _base(self, kind: str, ms: int) -> dict[str, Any]:
        self.stamps.append(ms)  # every event built here is appended next, in this order
        return {"type": kind, "timestamp": iso_ms(ms), "workspace": self.user.workspace}

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
        if len(times) >= RAPID_MIN_SWITCHES:
            self.summary.rapid_switches += 1

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
                "timestamp": iso_ms(ms),
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
                    "is_large_paste": added_chars > LARGE_PASTE_CHARS,
                    "is_possible_rewrite": added_chars > REWRITE_CHARS and deleted_chars > REWRITE_CHARS,
                    "is_possible_undo_cycle": undo,
                },
                "session_id": self.session_id,
            }
        )
        # line-delta bookkeeping, exactly as contract §6.1 computes it from these events
        replaced = ranges[0][1] - ranges[0][0] if len(ranges) == 1 else sum(e - s for s, e in ranges)
        day = ms // _DAY_MS
        self.deleted[day] = self.deleted.get(day, 0) + replaced
        self.summary.lines_deleted += replaced
        if had_baseline:
            k = line_change + replaced
            if 0 <= k <= added_chars:
                self.added[day] = self.added.get(day, 0) + k
                self.summary.lines_added += k

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
        """A ``file_save``; the first save of a project file makes git count one more changed file."""
        state = self.files[f.path]
        event = self._base("file_save", ms)
        event["file"] = self._file_obj(f, state)
        event["session_id"] = self.session_id
        self.events.append(event)
        state.has_baseline = True
        if not is_outside(f) and f.path not in self.dirty:
            self.dirty.add(f.path)
            ms += self.rng.randint(*GIT_AFTER_SAVE_MS)
            self.git(ms, len(self.dirty))
        return ms

    def git(self, ms: int, count: int) -> None:
        """A ``git_activity`` with the changed-file count, when it changed."""
        if count == self.git_count:
            return  # the extension sends git_activity only when the count changes
        self.git_count = count
        event = self._base("git_activity", ms)
        git: dict[str, Any] = {"changed_files_count": count}
        if self.rng.random() < BRANCH_PRESENT_CHANCE:
            git = {"branch": BRANCHES[self.user.index % len(BRANCHES)], "changed_files_count": count}
        event["git"] = git
        event["session_id"] = self.session_id
        self.events.append(event)

    def terminal(self, ms: int) -> None:
        """A ``terminal_open`` with the user's shell (or a task runner's pseudo-terminal)."""
        event = self._base("terminal_open", ms)
        if self.user.os == "windows":
            terminal: dict[str, Any] = {
                "name": "powershell",
                "shell_type": "C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            }
        elif self.rng.random() < TASK_RUNNER_CHANCE:
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
        count = 2 if self.rng.random() < COMPOUND_LAUNCH_CHANCE else 1
        for i in range(count):
            name, kind = launches[i % len(launches)]
            event = self._base("debug_session_start", ms)
            event["debug"] = {"name": name, "type": kind, "launch_configuration_name": name}
            event["session_id"] = self.session_id
            self.events.append(event)
            ms += self.rng.randint(*DEBUG_STEP_MS)
        return ms

    # -- activities ---------------------------------------------------------------------------
    def pick_file(self) -> SourceFile:
        """The next file to open: mostly one of the project's hot files."""
        files = self.user.files
        if self.rng.random() < OUTSIDE_FILE_CHANCE:
            outside = [f for f in files if is_outside(f)]
            if outside:
                return self.rng.choice(outside)
        return files[min(len(files) - 1, int(self.rng.expovariate(HOT_FILE_DECAY)))]

    def typing_run(self, ms: int, f: SourceFile) -> int:
        """A run of keystrokes on one line of ``f``; returns the time of the last one."""
        rng = self.rng
        state = self.files[f.path]
        line = rng.randint(1, state.lines)
        random_ = rng.random  # the hot loop: random() is several times cheaper than randint()
        gap_low, gap_high = KEYSTROKE_GAP_MS
        gap_span = gap_high - gap_low + 1
        backspace_edge = ENTER_CHANCE + BACKSPACE_CHANCE
        autocomplete_edge = backspace_edge + AUTOCOMPLETE_CHANCE
        multi_cursor_edge = autocomplete_edge + MULTI_CURSOR_CHANCE
        spread = MULTI_CURSOR_SPACING * (MULTI_CURSOR_CURSORS - 1)
        for _ in range(rng.randint(*KEYSTROKES_PER_RUN)):
            ms += gap_low + int(random_() * gap_span)
            roll = random_()
            if roll < ENTER_CHANCE:
                self.edit(ms, f, 1 + rng.choice(ENTER_INDENTS), 0, [(line, line)], 1)
                line += 1
            elif roll < backspace_edge:  # inside the line: no line count change
                self.edit(ms, f, 0, 1, [(line, line)], 0)
            elif roll < autocomplete_edge:
                self.edit(ms, f, rng.randint(*AUTOCOMPLETE_CHARS), 0, [(line, line)], 0)
            elif roll < multi_cursor_edge and state.lines > MULTI_CURSOR_MIN_LINES:
                cursors = [(c, c) for c in range(line, line + spread + 1, MULTI_CURSOR_SPACING)]
                ranges = cursors if line + spread <= state.lines else [(line, line)]
                self.edit(ms, f, MULTI_CURSOR_CURSORS, 0, ranges, 0)
            else:
                self.edit(ms, f, 1 if random_() < SINGLE_CHAR_CHANCE else 2, 0, [(line, line)], 0)
        return ms

    def paste(self, ms: int, f: SourceFile) -> int:
        """A paste of several lines, sometimes undone right away (within the churn cap)."""
        rng = self.rng
        state = self.files[f.path]
        k = rng.randint(*PASTE_LINES)
        line = rng.randint(1, state.lines)
        chars = k * rng.randint(*CHARS_PER_LINE)
        self.edit(ms, f, chars, 0, [(line, line)], k)
        if rng.random() < self.profile.paste_undo and self.churn_allows(ms, k):
            ms += rng.randint(*UNDO_DELAY_MS)  # Ctrl+Z: the pasted lines come out again
            self.edit(ms, f, 0, chars, [(line, line + k)], -k, undo=True)
        return ms

    def block_delete(self, ms: int, f: SourceFile) -> int:
        """Select a block of lines and delete it (within the churn cap)."""
        rng = self.rng
        state = self.files[f.path]
        k = min(rng.randint(*self.profile.block_delete_lines), state.lines - 1, self.churn_budget(ms))
        if k < 1:
            return ms
        line = rng.randint(1, state.lines - k)
        self.edit(ms, f, 0, k * rng.randint(*DELETED_CHARS_PER_LINE), [(line, line + k)], -k)
        return ms

    def replace_lines(self, ms: int, f: SourceFile) -> int:
        """Type over a few selected lines: as many lines come back as went (within the churn cap)."""
        state = self.files[f.path]
        if state.lines < REPLACED_LINES + 2 or not self.churn_allows(ms, REPLACED_LINES, REPLACED_LINES):
            return ms
        line = self.rng.randint(1, state.lines - REPLACED_LINES)
        ranges = [(line, line + REPLACED_LINES)]
        self.edit(ms, f, REPLACE_ADDED_CHARS, REPLACE_DELETED_CHARS, ranges, 0)
        return ms

    def rapid_burst(self, ms: int) -> int:
        """Flick through files faster than the extension's rapid-switching threshold."""
        for _ in range(self.rng.randint(*self.profile.burst_switches)):
            ms += self.rng.randint(*RAPID_BURST_GAP_MS)
            self.switch(ms, self.pick_file())
        return ms

    def session(self, start_ms: int, minutes: float, intensity: float) -> int:
        """One session of ``minutes``, with short pauses only; it ends with a save at its planned
        end, so it lasts its planned length. Returns its last event time."""
        rng = self.rng
        profile = self.profile
        typing_end, paste_end, delete_end, replace_end, terminal_end, debug_end, commit_end = self.bounds
        self.new_session(start_ms)
        end_ms = start_ms + int(minutes * _MINUTE_MS)
        ms = start_ms
        self.switch(ms, self.pick_file())
        mean_gap_ms = ACTIVITY_MEAN_GAP_MS / (intensity * profile.pace)
        while True:
            gap = int(rng.expovariate(1 / mean_gap_ms))
            if rng.random() < SHORT_PAUSE_CHANCE:  # a longer pause would rotate the session
                gap += int(rng.uniform(SHORT_PAUSE_MIN_MIN, profile.pause_max_min) * _MINUTE_MS)
            # Some activities emit nothing: the cap counts from the last event, not the cursor.
            ms = min(ms + gap, self.stamps[-1] + SESSION_IDLE_ROTATION_MS - IDLE_MARGIN_MS)
            if ms >= end_ms:
                break
            if rng.random() < profile.rapid_burst:
                ms = self.rapid_burst(ms)
                continue
            roll = rng.random()
            f = self.current if self.current is not None and rng.random() < STAY_ON_FILE_CHANCE else None
            if f is None:
                f = self.pick_file()
                self.switch(ms, f)
                ms += rng.randint(*SWITCH_SETTLE_MS)
            if roll < typing_end:
                ms = self.typing_run(ms, f)
            elif roll < paste_end:
                ms = self.paste(ms, f)
            elif roll < delete_end:
                ms = self.block_delete(ms, f)
            elif roll < replace_end:
                ms = self.replace_lines(ms, f)
            elif roll < terminal_end:
                self.terminal(ms)
            elif roll < debug_end:
                ms = self.debug(ms)
            elif roll < commit_end and self.dirty:
                self.dirty.clear()  # a commit
                self.git(ms, 0)
            if rng.random() < SAVE_AFTER_ACTIVITY_CHANCE and f is self.current:
                ms = self.save(ms + rng.randint(*SAVE_DELAY_MS), f)
        # The loop stops less than a rotation gap after the last event, so this save stays in session.
        if self.stamps[-1] < end_ms and self.current is not None:
            self.save(end_ms, self.current)
        self.summary.last_ms = self.stamps[-1]
        return self.stamps[-1]
