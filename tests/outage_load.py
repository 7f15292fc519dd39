"""A steady client load on a real server, recording every answer, for tests that take its database or
Redis away under it: users registering, writing posts, voting and reading pages, each in a thread of its
own, until told to stop."""

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.helpers import DEFAULT_PASSWORD, bearer, fresh_email

CLIENT_TIMEOUT_SECONDS = 30  # far past any timeout of the server's: a hang shows as a transport error


@dataclass(frozen=True)
class Answer:
    """One request's outcome: its status (None when no HTTP answer came back) and when it ran."""

    kind: str
    started: float
    ended: float
    status: int | None
    retry_after: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Acknowledged:
    """The writes answered 2xx, which must all be in the database afterwards."""

    users: set[int] = field(default_factory=set)
    posts: set[int] = field(default_factory=set)
    votes: set[tuple[int, int]] = field(default_factory=set)  # (post id, user id)


@dataclass
class _User:
    id: int
    email: str
    token: str
    voted_on: set[int] = field(default_factory=set)  # each vote is tried once: a retry could answer 409


class Load:
    """`threads` clients of `base_url`, each signed in as a user of its own."""

    def __init__(self, base_url: str, threads: int, *, seed: int = 0) -> None:
        self._base_url = base_url
        self._threads = threads
        self._random = random.Random(seed)  # noqa: S311 (a test's choices, no secret)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.answers: list[Answer] = []
        self.acknowledged = Acknowledged()
        self._posts: list[int] = []

    @contextmanager
    def running(self) -> Iterator[None]:
        workers = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self._threads)
        ]
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            self._stopping.set()
            for worker in workers:
                worker.join(timeout=CLIENT_TIMEOUT_SECONDS + 5)

    def _client(self, number: int) -> None:
        choose = random.Random(number).random  # noqa: S311 (a test's choices, no secret)
        with httpx.Client(base_url=self._base_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
            user = self._sign_in(client)
            while user is None and not self._stopping.is_set():
                user = self._sign_in(client)
            while not self._stopping.is_set():
                assert user is not None
                roll = choose()
                if roll < 0.4:
                    self._read_page(client, user)
                elif roll < 0.65:
                    self._write_post(client, user)
                elif roll < 0.9:
                    self._vote(client, user)
                elif roll < 0.95:
                    self._log_in(client, user.email)
                else:
                    self._register(client)

    def _request(
        self, client: httpx.Client, kind: str, send: Callable[[], httpx.Response]
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = send()
        except httpx.TransportError as error:
            self._record(Answer(kind, started, time.monotonic(), None, error=repr(error)))
            time.sleep(0.05)
            return None
        self._record(
            Answer(kind, started, time.monotonic(), response.status_code, response.headers.get("retry-after"))
        )
        if response.status_code == 503:
            time.sleep(0.05)  # as a client told to come back would, if sooner than Retry-After says
        return response

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _register(self, client: httpx.Client) -> tuple[int, str] | None:
        email = fresh_email()
        response = self._request(
            client,
            "register",
            lambda: client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD}),
        )
        if response is None or response.status_code != 201:
            return None
        user_id: int = response.json()["id"]
        with self._lock:
            self.acknowledged.users.add(user_id)
        return user_id, email

    def _sign_in(self, client: httpx.Client) -> _User | None:
        registered = self._register(client)
        if registered is None:
            return None
        user_id, email = registered
        while not self._stopping.is_set():
            token = self._log_in(client, email)
            if token is not None:
                return _User(user_id, email, token)
        return None

    def _log_in(self, client: httpx.Client, email: str) -> str | None:
        credentials = {"username": email, "password": DEFAULT_PASSWORD}
        response = self._request(client, "login", lambda: client.post("/login", data=credentials))
        if response is None or response.status_code != 200:
            return None
        token: str = response.json()["access_token"]
        return token

    def _read_page(self, client: httpx.Client, user: _User) -> None:
        page = {"limit": 10}
        self._request(client, "read", lambda: client.get("/posts/", params=page, headers=bearer(user.token)))

    def _write_post(self, client: httpx.Client, user: _User) -> None:
        post = {"title": f"Post by {user.id}", "content": "Written under load."}
        response = self._request(
            client, "post", lambda: client.post("/posts/", json=post, headers=bearer(user.token))
        )
        if response is not None and response.status_code == 201:
            post_id: int = response.json()["id"]
            with self._lock:
                self.acknowledged.posts.add(post_id)
                self._posts.append(post_id)

    def _vote(self, client: httpx.Client, user: _User) -> None:
        with self._lock:
            candidates = [
                post for post in itertools.islice(reversed(self._posts), 50) if post not in user.voted_on
            ]
        if not candidates:
            return
        post_id = self._random.choice(candidates)
        user.voted_on.add(post_id)
        vote = {"post_id": post_id, "dir": 1}
        response = self._request(
            client, "vote", lambda: client.post("/vote/", json=vote, headers=bearer(user.token))
        )
        if response is not None and response.status_code == 201:
            with self._lock:
                self.acknowledged.votes.add((post_id, user.id))

    def between(self, start: float, end: float) -> list[Answer]:
        """The answers to requests started in [start, end)."""
        with self._lock:
            return [answer for answer in self.answers if start <= answer.started < end]
