"""Demo data for `postboard seed`: users, posts and votes that look real, the same for the same seed.

Rows are generated in chunks and streamed into the database in one transaction: COPY on PostgreSQL,
multi-row inserts on SQLite. What differs between the engines is kept in the two loaders at the end.
"""

import bisect
import math
import random
import re
import time
from array import array
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, MutableSequence, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate, chain, islice, repeat
from typing import Any, Protocol, TextIO

from sqlalchemy import Connection, Index, Table, Update, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import AddConstraint, DropConstraint

from postboard.auth.passwords import PasswordHasher
from postboard.db import Database
from postboard.models import Base, PostRow, User, Vote
from postboard.orm import MAX_ID
from postboard.posts.models import CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH

DEFAULT_SEED = 2026
# Every seeded user has it: a newcomer logs in as any of them.
DEMO_PASSWORD = "postboard demo"
_DRAFT_SHARE = 0.1
_EMAIL = "demo{}@example.com"
_EMAIL_NUMBER = re.compile(r"demo(\d+)@example\.com")
_CHUNK_ROWS = 10_000
_DAY_SECONDS = 86_400
_YEAR_SECONDS = 365 * _DAY_SECONDS
# Posts in a day by hour (UTC): quiet nights, busy afternoons and evenings.
_HOURLY_ACTIVITY = (3, 2, 1, 1, 1, 2, 4, 6, 8, 9, 9, 9, 10, 10, 9, 9, 9, 9, 10, 11, 11, 10, 7, 5)
# Content lengths are log-normal around the median: mostly a paragraph, now and then a few KB.
_CONTENT_MEDIAN_CHARS = 350
_CONTENT_MAX_CHARS = 8_000
_CORPUS_SENTENCES = 30_000
# Another clause joins a title with this chance, again and again: most titles are short, a few long.
_TITLE_TAIL_CHANCE = 0.35

Row = tuple[Any, ...]
Chunk = list[Row]


@dataclass(frozen=True)
class SeedCounts:
    users: int
    posts: int
    votes: int


def count_problem(counts: SeedCounts) -> str | None:
    """Why the counts cannot be seeded, or None. Each new user votes at most once on each new post."""
    if max(counts.users, counts.posts) > MAX_ID:
        return f"at most {MAX_ID:,} users or posts"
    if counts.posts and not counts.users:
        return "--posts needs --users to own them"
    if counts.votes > counts.users * counts.posts:
        return (
            f"--votes {counts.votes:,} is more than --users times --posts ({counts.users * counts.posts:,}): "
            "a user votes on a post at most once"
        )
    return None


class DatabaseNotEmpty(Exception):
    """The database holds users or posts, and --append was not given."""


class Progress:
    """Reports each phase on a stream: a self-updating line on a terminal, one line per phase otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()

    @contextmanager
    def phase(self, name: str, rows: int | None = None) -> Iterator["_Phase"]:
        phase = _Phase(self, name, rows)
        self.draw(f"{name}…")
        yield phase
        self._stream.write(
            f"\rpostboard: {phase.summary()}\x1b[K\n" if self._live else f"postboard: {phase.summary()}\n"
        )
        self._stream.flush()

    def draw(self, line: str) -> None:
        if self._live:
            self._stream.write(f"\rpostboard: {line}\x1b[K")
            self._stream.flush()


class _Phase:
    _REDRAW_SECONDS = 0.1

    def __init__(self, progress: Progress, name: str, rows: int | None) -> None:
        self._progress = progress
        self._name = name
        self._rows = rows
        self._done = 0
        self._started = self._drawn = time.monotonic()

    def counted(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """Passes the chunks on, counting their rows as the database takes them."""
        for chunk in chunks:
            yield chunk
            self._done += len(chunk)
            now = time.monotonic()
            if now - self._drawn >= self._REDRAW_SECONDS:
                self._drawn = now
                total = self._rows or 0
                percent = 100 * self._done / max(total, 1)
                rate = self._done / (now - self._started)
                self._progress.draw(f"{self._name}: {percent:5.1f}% of {total:,} rows, {rate:,.0f} rows/s")

    def summary(self) -> str:
        elapsed = time.monotonic() - self._started
        if self._rows is None:
            return f"{self._name}: {elapsed:.1f} s"
        rate = self._done / max(elapsed, 1e-6)
        return f"{self._name}: {self._done:,} rows in {elapsed:.1f} s ({rate:,.0f} rows/s)"


async def seed_database(
    database_url: str, counts: SeedCounts, *, seed: int, append: bool, progress: Progress
) -> str | None:
    """Adds the rows in one transaction, and answers the email of the first new user (None if none).
    Refuses a database that holds users or posts unless `append`."""
    database = Database(database_url)
    try:
        # A writing transaction: on SQLite it holds the write lock from before the emptiness check.
        async with database.orm_session(writes=True) as db, db.begin():
            connection = await db.connection()
            loader = _loader_for(connection)
            await loader.lock_tables()
            existing = await _read_existing(connection)
            if not append and (existing.users or existing.posts):
                raise DatabaseNotEmpty(
                    f"the database already holds data (users: {existing.users:,}, "
                    f"posts: {existing.posts:,}); --append adds to it"
                )
            with progress.phase("hashing the demo password"):
                # Once: every seeded user shares it, and a million Argon2 hashes would take hours.
                password_hash = await PasswordHasher(max_threads=1).hash(DEMO_PASSWORD)
            with progress.phase("planning"):
                plan = await _make_plan(connection, existing, counts, seed)
            await _load(connection, loader, plan, password_hash, progress)
        with progress.phase("updating statistics"):
            await loader.refresh_statistics(database.engine)
    finally:
        await database.dispose()
    return _EMAIL.format(plan.first_email_number) if counts.users else None


@dataclass(frozen=True)
class _Existing:
    users: int
    posts: int
    last_user_id: int
    last_post_id: int
    last_email_number: int


async def _read_existing(connection: AsyncConnection) -> _Existing:
    users, last_user_id = (await connection.execute(select(func.count(User.id), func.max(User.id)))).one()
    posts, last_post_id = (
        await connection.execute(select(func.count(PostRow.id), func.max(PostRow.id)))
    ).one()
    emails = await connection.scalars(select(User.email).where(User.email.like(_EMAIL.format("%"))))
    numbers = (int(match[1]) for email in emails if (match := _EMAIL_NUMBER.fullmatch(email)))
    return _Existing(users, posts, last_user_id or 0, last_post_id or 0, max(numbers, default=0))


@dataclass(frozen=True)
class _Plan:
    """What is decided before any row is written: who signs up when, who posts when, how many votes each
    post gets (so each post is written with its final count)."""

    counts: SeedCounts
    seed: int
    first_user_id: int
    first_post_id: int
    first_email_number: int
    old_post_ids: Sequence[int]  # existing posts, which take votes from the new users
    signups: Sequence[float]  # seconds into the year, one per new user, in id order
    owners: Sequence[int]  # one user id per new post, in id order
    post_times: Sequence[float]  # seconds into the year, ascending
    published: Sequence[int]  # 1 or 0, one per new post
    vote_counts: Sequence[int]  # one per post: the old ones, then the new ones
    bulk: bool  # the tables were empty: indexes are dropped for the load and built after it

    @property
    def voters(self) -> range:
        """Only new users vote, so no new vote can repeat one the database holds."""
        return range(self.first_user_id, self.first_user_id + self.counts.users)

    def random(self, stream: str) -> random.Random:
        return _random(self.seed, stream, self.first_user_id, self.first_post_id)


def _random(seed: int, stream: str, first_user_id: int, first_post_id: int) -> random.Random:
    # One stream per kind of data, so changing how titles are made does not change who votes for what; the
    # first ids are mixed in so that appending twice with one seed does not repeat the same rows.
    return random.Random(f"{seed}/{stream}/{first_user_id}/{first_post_id}")  # noqa: S311 (repeatable)


async def _make_plan(
    connection: AsyncConnection, existing: _Existing, counts: SeedCounts, seed: int
) -> _Plan:
    old_post_ids, old_published = array("i"), bytearray()
    if counts.votes and existing.posts:
        # Streamed in large batches: an appended database may hold millions of posts.
        query = (
            select(PostRow.id, PostRow.published)
            .order_by(PostRow.id)
            .execution_options(yield_per=_CHUNK_ROWS)
        )
        async for rows in (await connection.stream(query)).partitions():
            for post_id, is_published in rows:
                old_post_ids.append(post_id)
                old_published.append(is_published)
    first_user_id, first_post_id = existing.last_user_id + 1, existing.last_post_id + 1
    rng = _random(seed, "plan", first_user_id, first_post_id)
    signups = _signup_times(rng, counts.users)
    owners, post_times = _owners_and_times(rng, signups, counts.posts, first_user_id)
    published = bytearray(rng.random() >= _DRAFT_SHARE for _ in range(counts.posts))
    vote_counts = _vote_counts(rng, old_published + published, counts.votes, counts.users)
    return _Plan(
        counts=counts,
        seed=seed,
        first_user_id=first_user_id,
        first_post_id=first_post_id,
        first_email_number=existing.last_email_number + 1,
        old_post_ids=old_post_ids,
        signups=signups,
        owners=owners,
        post_times=post_times,
        published=published,
        vote_counts=vote_counts,
        bulk=not (existing.users or existing.posts),
    )


def _moment_on_a_growing_board(rng: random.Random) -> float:
    """Seconds into the year, more likely the later: sign-ups and posts grow steadily towards today."""
    return _YEAR_SECONDS * math.sqrt(rng.random())


def _signup_times(rng: random.Random, count: int) -> Sequence[float]:
    signups = array("d", sorted(_moment_on_a_growing_board(rng) for _ in range(count)))
    if signups:
        signups[0] = 0.0  # the first user opened the board, so every post has someone to write it
    return signups


def _zipf_weights(count: int, exponent: float, offset: float) -> MutableSequence[float]:
    """Rank r weighs 1 / (r + offset) ** exponent: a few ranks weigh much, most little."""
    return array("d", ((rank + offset) ** -exponent for rank in range(count)))


def _owners_and_times(
    rng: random.Random, signups: Sequence[float], count: int, first_user_id: int
) -> tuple[Sequence[int], Sequence[float]]:
    """Each post's time, ascending so that ids grow with `created_at` as on a real board, and its owner:
    a user signed up by then, the prolific ones far more often (most users post little, some never)."""
    prolificacy = _zipf_weights(len(signups), exponent=1.0, offset=3)
    rng.shuffle(prolificacy)  # who is prolific does not depend on when they signed up
    cumulative = array("d", accumulate(prolificacy))
    times = array("d", sorted(_moment_on_a_growing_board(rng) for _ in range(count)))
    owners = array("i")
    for moment in times:
        signed_up = bisect.bisect_right(signups, moment)
        pick = rng.random() * cumulative[signed_up - 1]
        owners.append(first_user_id + bisect.bisect_left(cumulative, pick, 0, signed_up))
    return owners, times


def _vote_counts(rng: random.Random, published: Sequence[int], total: int, cap: int) -> Sequence[int]:
    """Each post's share of `total`, at most `cap`: Zipf-like by a random ranking of the published posts
    (drafts last, as if unpublished after a vote or two), so a few posts are very popular and most get
    few votes or none."""
    ranking = array("i", (post for post, is_published in enumerate(published) if is_published))
    drafts = array("i", (post for post, is_published in enumerate(published) if not is_published))
    rng.shuffle(ranking)
    rng.shuffle(drafts)
    ranking += drafts
    weights = _zipf_weights(len(ranking), exponent=1.0, offset=10)
    weight_left = array("d", accumulate(reversed(weights)))
    weight_left.reverse()
    counts: MutableSequence[int] = array("i", [0]) * len(ranking)
    left = total
    for position, (post, weight, remaining_weight) in enumerate(
        zip(ranking, weights, weight_left, strict=True)
    ):
        # The post's share of what is left, rounded up or down at random so that small shares add up; a
        # post at the cap passes the excess on down the ranking.
        share = left * weight / remaining_weight
        votes = int(share) + (rng.random() < share % 1)
        # At least what the posts after this one cannot hold, so that exactly `total` are handed out.
        cannot_pass_on = left - cap * (len(ranking) - position - 1)
        counts[post] = min(max(votes, cannot_pass_on), cap, left)
        left -= counts[post]
    return counts


class _Timeline:
    """The 365 days before `end`, counted in seconds. Moments are spread over each day by its rhythm of
    activity with a mapping that keeps their order, so a post stays after its owner's sign-up."""

    def __init__(self, end: datetime) -> None:
        self._start = end - timedelta(seconds=_YEAR_SECONDS)
        self._hour_starts = list(accumulate(_HOURLY_ACTIVITY, initial=0))

    def moment(self, seconds: float) -> datetime:
        day, within = divmod(seconds, _DAY_SECONDS)
        activity = within * self._hour_starts[-1] / _DAY_SECONDS
        hour = bisect.bisect_right(self._hour_starts, activity) - 1
        hours = hour + (activity - self._hour_starts[hour]) / _HOURLY_ACTIVITY[hour]
        # Whole microseconds from the start: the same seed gives the same times apart from the day it ran.
        return self._start + timedelta(microseconds=round((day * _DAY_SECONDS + hours * 3600) * 1e6))


def _today() -> datetime:
    """Seeded times end at the start of today (UTC): the same seed gives the same rows all day."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# Word lists, most common first: a word's rank sets how often it is picked, so title search finds the
# first words in many posts and the last ones in a few.
_WORDS = {
    "noun": """code life work data coffee music garden bug project team weekend book game city kitchen bike
        server database habit startup memory cache language library cat dog photo trip job interview design
        deadline meeting plan budget recipe bread camera keyboard laptop network privacy password test query
        index thread queue chess guitar painting river mountain winter summer sunrise lighthouse telescope
        compiler kernel spreadsheet podcast newsletter notebook workshop bakery beehive sourdough origami
        calligraphy kayak glacier volcano meteorite harpsichord quokka axolotl ptarmigan narwhal zeppelin
        abacus sextant quasar marmalade kombucha zither obelisk palimpsest isthmus fjord tessellation""",
    "adj": """new simple better small fast old quiet strange honest practical tiny broken modern lazy async
        secure slow beautiful boring curious hidden open remote local weird gentle ancient minimal reliable
        wild forgotten lucid whimsical byzantine luminous serendipitous quixotic ephemeral labyrinthine""",
    "verb": """fix build test learn ship cache refactor debug measure cook paint plan write read scale index
        deploy rewrite sketch brew teach migrate benchmark tune untangle automate photograph compost restore
        juggle transcribe calibrate""",
    "tech": """Python FastAPI PostgreSQL SQLite Rust Go JavaScript TypeScript Linux Docker Redis Kubernetes
        React Django SQLAlchemy Git Vim Emacs Nix Haskell Elixir Zig OCaml Fortran COBOL Erlang Prolog APL
        Smalltalk""",
    "number": "2 3 5 10 7 12 20 4 6 100 30 50 42 1000 9 11 15 99 365 10000",
    "year": "2026 2025 2024 2023 2020 2019 2015 2010 2001 1999 1989 1969",
    "weekday": "Saturday Sunday Friday Monday Wednesday Tuesday Thursday",
}
_SYLLABLES = "ka lo mi ra ven tor quil bel an dro sa ti ul mor ne vi za pel or esh ku gan tel ri"
_TITLE_HEADS = (
    "{Adj} {noun}",
    "{Noun}",
    "How I {verb} my {noun}",
    "How to {verb} {noun} with {tech}",
    "Why {tech} {noun} is {adj}",
    "{Number} things I learned about {noun}",
    "{Adj} {noun} for {adj} {noun}",
    "Notes on {adj} {noun}",
    "Ask the board: {verb} or {verb} the {noun}?",
    "Show the board: my {adj} {noun} in {tech}",
    "What nobody tells you about {noun}",
    "Is {tech} still {adj}?",
    "The {adj} {noun} of {name}",
    "{Name}: the {adj} {noun}",
    "I tried to {verb} {noun} for {number} days",
    "{Tech} {noun} in {number} steps",
)
_TITLE_TAILS = (
    " and {adj} {noun}",
    " ({year})",
    ", part {number}",
    ": lessons from {number} years of {noun}",
    " with {tech} and {tech}",
    " without {noun}",
    " on {weekday}",
    " in {name}",
    ", or how to {verb} the {noun}",
)
_SENTENCES = (
    "I spent {weekday} trying to {verb} the {noun}.",
    "The {adj} {noun} turned out to be the {adj} part.",
    "We {verb} the {noun} with {tech} and it mostly works.",
    "Has anyone tried to {verb} the {noun} without {tech}?",
    "It took {number} hours, {number} cups of coffee and one {adj} {noun}.",
    "My {noun} is {adj} again, so I had to {verb} it.",
    "Next up: {noun}, {noun} and maybe some {adj} {noun}.",
    "Honestly, the {noun} was never the problem.",
    "{Tech} makes the {noun} {adj}, but the {noun} stays {adj}.",
    "If you {verb} the {noun} first, the rest is {adj}.",
    "Here is what I learned about {noun} since {year}.",
    "The {noun} in {name} is {adj} and {adj}.",
    "A friend from {name} showed me how to {verb} the {noun}.",
    "Thanks for reading!",
    "Comments welcome.",
    "Edit: the {noun} is fixed now.",
)


class _Words:
    """A word list picked by rank (Zipf-like), or invented names picked alike from a long list."""

    def __init__(self, words: Sequence[str]) -> None:
        self._words = words
        self._cumulative = list(accumulate(_zipf_weights(len(words), exponent=1.0, offset=3)))

    def pick(self, rng: random.Random) -> str:
        return self._words[bisect.bisect_left(self._cumulative, rng.random() * self._cumulative[-1])]


class _Phrases:
    """Fills templates such as "How I {verb} my {noun}": each slot with its own pick, capitalised when the
    slot name is."""

    def __init__(self, templates: Sequence[str], words: Mapping[str, _Words]) -> None:
        # Split into literal text and slot names, alternately, once.
        self._templates = [re.split(r"\{(\w+)\}", template) for template in templates]
        self._words = words

    def make(self, rng: random.Random) -> str:
        parts = self._templates[rng.randrange(len(self._templates))]
        return "".join(part if i % 2 == 0 else self._fill(part, rng) for i, part in enumerate(parts))

    def _fill(self, slot: str, rng: random.Random) -> str:
        word = self._words[slot.lower()].pick(rng)
        return word[0].upper() + word[1:] if slot[0].isupper() else word


class _Text:
    """Titles and contents. Contents are cut from a long corpus of sentences at sentence boundaries: slicing
    a string costs far less than composing a million texts word by word."""

    def __init__(self, rng: random.Random) -> None:
        names = sorted({self._invent_name(rng) for _ in range(5_000)})
        rng.shuffle(names)
        words = {slot: _Words(listed.split()) for slot, listed in _WORDS.items()} | {"name": _Words(names)}
        self._heads = _Phrases(_TITLE_HEADS, words)
        self._tails = _Phrases(_TITLE_TAILS, words)
        sentences = _Phrases(_SENTENCES, words)
        corpus, self._sentence_starts, self._sentence_ends = [], array("i"), array("i")
        length = 0
        for number in range(_CORPUS_SENTENCES):
            if number:
                # A paragraph ends after about four sentences.
                separator = "\n\n" if rng.random() < 0.25 else " "
                corpus.append(separator)
                length += len(separator)
            sentence = sentences.make(rng)
            corpus.append(sentence)
            self._sentence_starts.append(length)
            length += len(sentence)
            self._sentence_ends.append(length)
        self._corpus = "".join(corpus)
        self._content_mu = math.log(_CONTENT_MEDIAN_CHARS)

    @staticmethod
    def _invent_name(rng: random.Random) -> str:
        """Words of the seed's own making (Talvoka, Quilan): each appears in a handful of titles."""
        syllables = _SYLLABLES.split()
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).capitalize()

    def title(self, rng: random.Random) -> str:
        title = self._heads.make(rng)
        while rng.random() < _TITLE_TAIL_CHANCE:
            title += self._tails.make(rng)
        return title if len(title) <= TITLE_MAX_LENGTH else title[:TITLE_MAX_LENGTH].rsplit(" ", 1)[0]

    def content(self, rng: random.Random) -> str:
        wanted = min(int(rng.lognormvariate(self._content_mu, 1.0)), _CONTENT_MAX_CHARS)
        # A start from which `wanted` characters fit, then on to the end of the sentence they reach.
        last_start = bisect.bisect_right(self._sentence_starts, len(self._corpus) - wanted - 1) - 1
        start = self._sentence_starts[rng.randint(0, last_start)]
        end = self._sentence_ends[bisect.bisect_left(self._sentence_ends, start + wanted)]
        return self._corpus[start : min(end, start + CONTENT_MAX_LENGTH)]


_USER_COLUMNS = ("id", "email", "password_hash", "created_at")
_POST_COLUMNS = ("id", "title", "content", "published", "created_at", "owner_id", "vote_count")
_VOTE_COLUMNS = ("post_id", "user_id")


def _chunks(rows: Iterator[Row]) -> Iterator[Chunk]:
    return iter(lambda: list(islice(rows, _CHUNK_ROWS)), [])


def _user_rows(plan: _Plan, timeline: _Timeline, password_hash: str) -> Iterator[Row]:
    for offset, signup in enumerate(plan.signups):
        email = _EMAIL.format(plan.first_email_number + offset)
        yield plan.first_user_id + offset, email, password_hash, timeline.moment(signup)


def _post_rows(plan: _Plan, timeline: _Timeline) -> Iterator[Row]:
    rng = plan.random("text")
    text = _Text(rng)
    new_vote_counts = plan.vote_counts[len(plan.old_post_ids) :]
    for offset, (owner, moment, published, votes) in enumerate(
        zip(plan.owners, plan.post_times, plan.published, new_vote_counts, strict=True)
    ):
        created_at = timeline.moment(moment)
        yield (
            plan.first_post_id + offset,
            text.title(rng),
            text.content(rng),
            bool(published),
            created_at,
            owner,
            votes,
        )


def _vote_rows(plan: _Plan) -> Iterator[Row]:
    """In primary-key order (post, then user), so the key's index is filled front to back."""
    rng = plan.random("votes")
    post_ids = chain(plan.old_post_ids, range(plan.first_post_id, plan.first_post_id + plan.counts.posts))
    for post_id, votes in zip(post_ids, plan.vote_counts, strict=True):
        if votes:
            yield from zip(repeat(post_id), sorted(rng.sample(plan.voters, votes)))


class _Loader(Protocol):
    async def lock_tables(self) -> None: ...

    async def insert(self, table: Table, columns: Sequence[str], chunks: Iterable[Chunk]) -> None: ...

    def foreign_keys_checked_after(self, progress: Progress) -> AbstractAsyncContextManager[None]: ...

    def vote_counting_off(self) -> AbstractAsyncContextManager[None]: ...

    async def refresh_statistics(self, engine: AsyncEngine) -> None: ...


def _loader_for(connection: AsyncConnection) -> _Loader:
    if connection.dialect.name == "postgresql":
        return _PostgresLoader(connection)
    return _SqliteLoader(connection)


async def _load(
    connection: AsyncConnection, loader: _Loader, plan: _Plan, password_hash: str, progress: Progress
) -> None:
    timeline = _Timeline(_today())
    async with _schema_built_after_load(connection, loader, plan.bulk, progress):
        with progress.phase("users", plan.counts.users) as phase:
            rows = _user_rows(plan, timeline, password_hash)
            await loader.insert(_table("users"), _USER_COLUMNS, phase.counted(_chunks(rows)))
        with progress.phase("posts", plan.counts.posts) as phase:
            rows = _post_rows(plan, timeline)
            await loader.insert(_table("posts"), _POST_COLUMNS, phase.counted(_chunks(rows)))
        async with loader.vote_counting_off():
            with progress.phase("votes", plan.counts.votes) as phase:
                await loader.insert(_table("votes"), _VOTE_COLUMNS, phase.counted(_chunks(_vote_rows(plan))))
            if any(plan.vote_counts[: len(plan.old_post_ids)]):
                with progress.phase("counting the new votes of existing posts"):
                    await connection.execute(_count_new_votes_of_old_posts(plan))


@asynccontextmanager
async def _schema_built_after_load(
    connection: AsyncConnection, loader: _Loader, empty_tables: bool, progress: Progress
) -> AsyncIterator[None]:
    """Into empty tables, building each index (and checking each foreign key) once over all rows is
    faster than keeping them up to date row by row."""
    if not empty_tables:
        yield
        return
    indexes = _secondary_indexes()
    await connection.run_sync(_drop_indexes, indexes)
    async with loader.foreign_keys_checked_after(progress):
        yield
    with progress.phase("building indexes"):
        await connection.run_sync(_create_indexes, indexes)


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _secondary_indexes() -> list[Index]:
    """The loaded tables' indexes as the models declare them (each created only on its dialect)."""
    tables = [_table(name) for name in ("users", "posts", "votes")]
    return sorted((index for table in tables for index in table.indexes), key=lambda index: str(index.name))


def _drop_indexes(connection: Connection, indexes: Iterable[Index]) -> None:
    for index in indexes:
        index.drop(connection)


def _create_indexes(connection: Connection, indexes: Iterable[Index]) -> None:
    for index in indexes:
        index.create(connection)


def _count_new_votes_of_old_posts(plan: _Plan) -> Update:
    """Adds to each existing post the votes it was given, which the switched-off trigger did not count."""
    added = (
        select(Vote.post_id, func.count().label("votes"))
        .where(Vote.user_id >= plan.first_user_id, Vote.post_id < plan.first_post_id)
        .group_by(Vote.post_id)
        .subquery()
    )
    return (
        update(PostRow)
        .where(PostRow.id == added.c.post_id)
        .values(vote_count=PostRow.vote_count + added.c.votes)
    )


class _PostgresLoader:
    """Binary COPY through asyncpg, on the transaction's own connection."""

    _VOTE_COUNTING_TRIGGER = "count_votes"  # migration 0003

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock_tables(self) -> None:
        # Writers wait for the commit: the seed picks ids past the largest ones and relies on what it read.
        await self._connection.execute(text("LOCK TABLE users, posts, votes IN SHARE ROW EXCLUSIVE MODE"))
        # Index builds sort millions of rows; with more memory the sorts stay off the disk.
        await self._connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))

    async def insert(self, table: Table, columns: Sequence[str], chunks: Iterable[Chunk]) -> None:
        asyncpg_connection = (await self._connection.get_raw_connection()).driver_connection
        assert asyncpg_connection is not None
        # Inside the transaction SQLAlchemy began on this connection, so a failure undoes it all.
        status = await asyncpg_connection.copy_records_to_table(
            table.name, records=chain.from_iterable(chunks), columns=list(columns)
        )
        if "id" in columns and status != "COPY 0":
            # The ids were given, not drawn from the table's sequence: it must go on after the largest.
            move_on = "SELECT setval(pg_get_serial_sequence('{0}', 'id'), max(id)) FROM {0}"
            await self._connection.execute(text(move_on.format(table.name)))

    @asynccontextmanager
    async def foreign_keys_checked_after(self, progress: Progress) -> AsyncIterator[None]:
        # Checked row by row, they would take most of the load's time; added again, each is checked by one
        # join over the loaded rows.
        foreign_keys = [key for name in ("posts", "votes") for key in _table(name).foreign_key_constraints]
        for foreign_key in foreign_keys:
            await self._connection.execute(DropConstraint(foreign_key))
        yield
        with progress.phase("checking foreign keys"):
            for foreign_key in foreign_keys:
                await self._connection.execute(AddConstraint(foreign_key))

    @asynccontextmanager
    async def vote_counting_off(self) -> AsyncIterator[None]:
        # Transactional: a failure in between rolls the trigger back to enabled.
        await self._connection.execute(
            text(f"ALTER TABLE votes DISABLE TRIGGER {self._VOTE_COUNTING_TRIGGER}")
        )
        yield
        await self._connection.execute(
            text(f"ALTER TABLE votes ENABLE TRIGGER {self._VOTE_COUNTING_TRIGGER}")
        )

    async def refresh_statistics(self, engine: AsyncEngine) -> None:
        # VACUUM, outside any transaction, also marks the pages all-visible, which index-only scans need.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE users, posts, votes")


class _SqliteLoader:
    """Multi-row inserts, in the write transaction the ORM session began (BEGIN IMMEDIATE)."""

    _VOTE_COUNTING_TRIGGER = "count_votes_insert"  # migration 0003

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock_tables(self) -> None:
        """The write transaction holds the database's only write lock already."""

    async def insert(self, table: Table, columns: Sequence[str], chunks: Iterable[Chunk]) -> None:
        # Ids given explicitly need nothing more: without AUTOINCREMENT, SQLite numbers on from the largest.
        statement = insert(table)
        for chunk in chunks:
            await self._connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in chunk])

    @asynccontextmanager
    async def foreign_keys_checked_after(self, progress: Progress) -> AsyncIterator[None]:
        # SQLite checks them quickly (and cannot drop one from a table).
        yield

    @asynccontextmanager
    async def vote_counting_off(self) -> AsyncIterator[None]:
        # SQLite cannot disable a trigger: it is dropped, then made again from its own stored definition.
        definition = await self._connection.scalar(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": self._VOTE_COUNTING_TRIGGER},
        )
        await self._connection.execute(text(f"DROP TRIGGER {self._VOTE_COUNTING_TRIGGER}"))
        yield
        await self._connection.execute(text(definition))

    async def refresh_statistics(self, engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
