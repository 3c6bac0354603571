"""A client for a wasmgrid manager's HTTP API, using only Python's standard library.

    import wasmgrid
    grid = wasmgrid.Client()                      # WASMGRID_API, else 127.0.0.1:5741
    job = grid.submit("prog.wasm", ["1", "2", b"\\x00raw"], timeout=10)
    job.wait(progress=True)
    for r in job.results():
        print(r.index, r.status, r.text if r.ok else r.error)

docs/python.md describes every call. The API itself is described in docs/api.md.
"""

import base64
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.parse

__all__ = ["Client", "Job", "Result", "Error", "DEFAULT_API"]
__version__ = "0.1.0"

DEFAULT_API = "127.0.0.1:5741"
# Tasks per results page the manager allows at most (docs/api.md).
_PAGE = 10000
# The longest long-poll the manager holds (docs/api.md).
_MAX_WAIT_MS = 60000


class Error(Exception):
    """A request the manager refused (status is the HTTP status) or could not be reached
    (status is None). The message is the manager's own explanation."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Result:
    """One task's outcome, as GET /v1/jobs/ID/results gives it."""

    def __init__(self, doc):
        self.index = doc["index"]
        self.status = doc["status"]
        self.error = doc.get("error")
        self.error_detail = doc.get("error_detail")
        self.stderr = doc.get("stderr")
        self.worker = doc.get("worker")
        self.attempts = doc.get("attempts", 0)
        self.failures = doc.get("failures", 0)
        raw = doc.get("result")
        if raw is None:
            self.result = None
        elif doc.get("encoding") == "base64":
            self.result = base64.b64decode(raw)
        else:
            self.result = raw.encode("utf-8")

    @property
    def ok(self):
        """True when the task completed."""
        return self.status == "completed"

    @property
    def done(self):
        """True when the task has its final outcome (completed, failed or cancelled)."""
        return self.status in ("completed", "failed", "cancelled")

    @property
    def text(self):
        """The result as text (UTF-8, undecodable bytes replaced), or None."""
        return None if self.result is None else self.result.decode("utf-8", "replace")

    def __repr__(self):
        what = self.text if self.ok else self.error
        return "Result(index=%d, status=%r, %r)" % (self.index, self.status, what)


class Job:
    """A job on a manager. Methods ask the manager; nothing is cached but the id."""

    def __init__(self, client, job_id):
        self.client = client
        self.id = int(job_id)

    def __repr__(self):
        return "Job(%d)" % self.id

    def status(self):
        """The job as GET /v1/jobs/ID answers it (a dict: state, tasks, counts, options...)."""
        return self.client._json("GET", "/v1/jobs/%d" % self.id)

    def wait(self, timeout=None, progress=False):
        """Waits until the job is no longer running (or `timeout` seconds passed) and
        returns its status. The manager holds each request until the job ends, so this
        does not poll. `progress` may be True (a bar on stderr) or a function called with
        each status seen."""
        deadline = None if timeout is None else time.monotonic() + timeout
        show = _progress_bar if progress is True else progress
        while True:
            hold = _MAX_WAIT_MS if not show else 500
            if deadline is not None:
                hold = max(0, min(hold, int((deadline - time.monotonic()) * 1000)))
            st = self.client._json("GET", "/v1/jobs/%d?wait=%d" % (self.id, hold))
            if show:
                show(st)
            if st["state"] != "running":
                if progress is True:
                    sys.stderr.write("\n")
                return st
            if deadline is not None and time.monotonic() >= deadline:
                return st

    def results(self, start=0):
        """Every task's Result in index order, fetched a page at a time (any number of
        tasks works). Tasks not yet finished are included with their current status."""
        frm = start
        while frm is not None:
            page = self.client._json(
                "GET", "/v1/jobs/%d/results?from=%d&limit=%d" % (self.id, frm, _PAGE))
            for doc in page["results"]:
                yield Result(doc)
            frm = page.get("next")

    def as_completed(self, timeout=None):
        """Yields each task's Result once it is final, in the order tasks end (completed or
        failed; the manager's results?after= cursor, so each poll reads only what is new),
        then, for a cancelled job, the cancelled tasks; until the job is over or `timeout`
        seconds passed (then TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        after, seen = 0, set()
        while True:
            hold = _MAX_WAIT_MS
            if deadline is not None:
                hold = max(0, min(hold, int((deadline - time.monotonic()) * 1000)))
            page = self.client._json("GET", "/v1/jobs/%d/results?after=%d&limit=%d&wait=%d"
                                     % (self.id, after, _PAGE, hold))
            for doc in page["results"]:
                seen.add(doc["index"])
                yield Result(doc)
            after = page["last"]
            if page["state"] != "running" and not page["more"]:
                break
            if deadline is not None and time.monotonic() >= deadline and not page["more"]:
                raise TimeoutError("job %d: %d tasks finished so far" % (self.id, len(seen)))
        if page["state"] == "cancelled":
            for r in self.results():
                if r.status == "cancelled" and r.index not in seen:
                    yield r

    def cancel(self):
        """Cancels the job's queued and running tasks; returns its status."""
        return self.client._json("DELETE", "/v1/jobs/%d" % self.id)

    def retry(self):
        """Queues the job's failed tasks again; returns how many."""
        return self.client._json("POST", "/v1/jobs/%d/retry" % self.id, b"")["retried"]


class Client:
    """A connection to one manager's API ("HOST:PORT"; default: the WASMGRID_API environment
    variable, else 127.0.0.1:5741). `token` is the API's token when the manager has one
    (--api-token-file); without it, the first line of the file WASMGRID_TOKEN_FILE names,
    else WASMGRID_TOKEN. `timeout` is the socket timeout in seconds for requests that are not
    long-polls."""

    def __init__(self, api=None, timeout=30.0, token=None):
        self.api = api or os.environ.get("WASMGRID_API") or DEFAULT_API
        if token is None and os.environ.get("WASMGRID_TOKEN_FILE"):
            with open(os.environ["WASMGRID_TOKEN_FILE"]) as f:
                token = f.readline().strip()
        self._token = token or os.environ.get("WASMGRID_TOKEN") or None
        host, sep, port = self.api.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError("the API address must be HOST:PORT, not %r" % self.api)
        self._host = host.strip("[]")
        self._port = int(port)
        self.timeout = timeout

    def __repr__(self):
        return "Client(%r)" % self.api

    # ---- programs and jobs ----

    def upload_program(self, path_or_bytes):
        """Stores a .wasm program (a path, or its bytes) on the manager; returns its hash."""
        data = path_or_bytes
        if not isinstance(data, (bytes, bytearray)):
            with open(path_or_bytes, "rb") as f:
                data = f.read()
        return self._json("POST", "/v1/programs", bytes(data),
                          "application/octet-stream")["hash"]

    def submit(self, program, args, hash=None, timeout=None, memory_mib=None,
               result_limit=None, priority=None, max_failures=None, redundancy=None,
               quorum=None, name=None):
        """Submits a job: one task per argument (str or bytes) of `args`. `program` is a
        path to a local .wasm file (uploaded first), a program hash already stored on the
        manager, or an https://, http:// or file:// URL (then `hash` is required, except for
        file:// URLs this machine can read, which are hashed here). `timeout` is in seconds
        per attempt; `name` is a label shown with the job. Returns the Job."""
        body = {}
        if isinstance(program, str) and program.startswith(("https://", "http://", "file://")):
            if hash is None and program.startswith("file://"):
                with open(urllib.parse.unquote(program[len("file://"):]), "rb") as f:
                    hash = hashlib.blake2b(f.read(), digest_size=32).hexdigest()
            if hash is None:
                raise ValueError("a program URL needs its hash (hash=...)")
            body["address"], body["hash"] = program, hash
        elif isinstance(program, str) and len(program) == 64 and not os.path.exists(program) \
                and all(c in "0123456789abcdef" for c in program):
            body["program"] = program
        else:
            body["program"] = self.upload_program(program)
        args = list(args)
        encoded = [a.encode("utf-8") if isinstance(a, str) else bytes(a) for a in args]
        if all(_is_text(a) for a in encoded):
            body["arguments"] = [a.decode("utf-8") for a in encoded]
        else:
            body["arguments_base64"] = [base64.b64encode(a).decode("ascii") for a in encoded]
        options = {"memory_mib": memory_mib, "result_limit": result_limit, "priority": priority,
                   "max_failures": max_failures, "redundancy": redundancy, "quorum": quorum,
                   "name": name,
                   "timeout_ms": None if timeout is None else int(timeout * 1000)}
        body.update({k: v for k, v in options.items() if v is not None})
        answer = self._json("POST", "/v1/jobs", json.dumps(body).encode("utf-8"))
        return Job(self, answer["id"])

    def job(self, job_id):
        """The Job with this id (not checked until used)."""
        return Job(self, job_id)

    def jobs(self, state=None, limit=None):
        """The jobs the manager holds, newest first (a list of status dicts): those in
        `state` (a state name or a list of them) when given, at most `limit` of them."""
        query = {}
        if state is not None:
            query["state"] = state if isinstance(state, str) else ",".join(state)
        if limit is not None:
            query["limit"] = str(int(limit))
        path = "/v1/jobs" + ("?" + urllib.parse.urlencode(query) if query else "")
        return self._json("GET", path)["jobs"]

    def workers(self):
        """The workers the manager knows (a list of dicts: node_id, address, state, specs)."""
        return self._json("GET", "/v1/workers")["workers"]

    def map(self, program, args, **options):
        """Runs a job and returns its results' bytes in argument order; raises Error if a
        task did not complete. A parameter sweep in one call."""
        job = self.submit(program, args, **options)
        job.wait()
        out = []
        for r in job.results():
            if not r.ok:
                raise Error("job %d task %d %s: %s %s" % (job.id, r.index, r.status,
                                                          r.error, r.error_detail or ""))
            out.append(r.result)
        return out

    # ---- HTTP ----

    def _json(self, method, path, body=None, content_type="application/json"):
        hold = 0
        q = urllib.parse.urlparse(path).query
        for k, v in urllib.parse.parse_qsl(q):
            if k == "wait":
                hold = int(v) / 1000.0
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout + hold)
        try:
            headers = {"Content-Type": content_type} if body is not None else {}
            if self._token:
                headers["Authorization"] = "Bearer " + self._token
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            raise Error("cannot reach the manager at %s: %s" % (self.api, e)) from None
        finally:
            conn.close()
        try:
            doc = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            raise Error("the manager at %s answered %d with something that is not JSON"
                        % (self.api, resp.status), resp.status) from None
        if resp.status >= 400:
            raise Error(doc.get("error", "HTTP %d" % resp.status) if isinstance(doc, dict)
                        else "HTTP %d" % resp.status, resp.status)
        return doc


def _is_text(b):
    if b"\0" in b:
        return False
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _progress_bar(st):
    c = st.get("counts", {})
    total = st.get("tasks", 0) or 1
    done = c.get("completed", 0) + c.get("failed", 0) + c.get("cancelled", 0)
    width = 30
    fill = int(width * done / total)
    sys.stderr.write("\rjob %d [%s%s] %d/%d done, %d failed, %d running" % (
        st["id"], "#" * fill, "." * (width - fill), done, total, c.get("failed", 0),
        c.get("running", 0)))
    sys.stderr.flush()
