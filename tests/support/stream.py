"""A resolver-like query stream for tests that change a server under load: one query after another (0.5 s
timeout, three tries, as a resolver would), on a thread, until stopped; it counts the queries, the retries and
the queries that got no answer in three tries, and keeps every address answered."""
from __future__ import annotations

import threading
from typing import Any

import dns.exception
import dns.message
import dns.query


class QueryStream:
    def __init__(self, port: int, name: str = "www.example.com", rdtype: str = "A"):
        self.port = port
        self.query = dns.message.make_query(name, rdtype)
        self.stats = {"queries": 0, "failed": 0, "retried": 0}
        self.answers: set[str] = set()
        self.empty = 0  # answers without records
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "QueryStream":
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in range(3):
                try:
                    r = dns.query.udp(self.query, "127.0.0.1", port=self.port, timeout=0.5)
                    self.answers.update(rd.to_text() for rrset in r.answer for rd in rrset)
                    self.empty += not r.answer
                    break
                except dns.exception.Timeout:
                    self.stats["retried"] += 1
            else:
                self.stats["failed"] += 1
            self.stats["queries"] += 1
