"""Tests of the Python client (python/wasmgrid) against a real manager and worker.

Run by tests/e2e/test_python.c, which starts them and passes their addresses:
WG_API (the manager's API, HOST:PORT), WG_PROGRAMS (the directory of built .wasm programs)
and WG_UNUSED_PORT (a port nothing listens on)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import wasmgrid  # noqa: E402

API = os.environ["WG_API"]
PROGRAMS = os.environ["WG_PROGRAMS"]


def program(name):
    return os.path.join(PROGRAMS, name + ".wasm")


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.grid = wasmgrid.Client(API)

    def test_submit_wait_results_text_arguments(self):
        job = self.grid.submit(program("increment"), [str(i) for i in range(20)], timeout=30)
        st = job.wait(timeout=120)
        self.assertEqual(st["state"], "completed", st)
        results = list(job.results())
        self.assertEqual([r.index for r in results], list(range(20)))
        self.assertEqual([r.text for r in results], ["%d\n" % (i + 1) for i in range(20)])
        self.assertTrue(all(r.ok and r.worker for r in results))

    def test_bytes_arguments_round_trip_exactly(self):
        args = [b"\x00\xff\x01binary", "text é", b""]
        job = self.grid.submit(program("t_echo"), args)
        self.assertEqual(job.wait(timeout=120)["state"], "completed")
        got = [r.result for r in job.results()]
        self.assertEqual(got, [b"\x00\xff\x01binary", "text é".encode(), b""])

    def test_program_by_hash_and_map(self):
        h = self.grid.upload_program(program("increment"))
        self.assertEqual(len(h), 64)
        self.assertEqual(self.grid.map(h, ["41", "-1"]), [b"42\n", b"0\n"])

    def test_as_completed_yields_every_task_once(self):
        job = self.grid.submit(program("t_slow"), ["50"] * 6)
        seen = [r.index for r in job.as_completed(timeout=120)]
        self.assertEqual(sorted(seen), list(range(6)))
        self.assertEqual(job.status()["state"], "completed")
        # In the order they end (the worker has 2 slots: 1 ends first, then 2, then 0).
        job = self.grid.submit(program("t_slow"), ["1500", "50", "400"])
        self.assertEqual([r.index for r in job.as_completed(timeout=120)], [1, 2, 0])
        # A cancelled job's tasks come too, cancelled.
        job = self.grid.submit(program("t_slow"), ["60000"] * 3)
        job.cancel()
        self.assertEqual(sorted((r.index, r.status) for r in job.as_completed(timeout=60)),
                         [(i, "cancelled") for i in range(3)])

    def test_failed_task_reports_its_error(self):
        job = self.grid.submit(program("increment"), ["not a number"], max_failures=0)
        self.assertEqual(job.wait(timeout=120)["state"], "failed")
        (r,) = list(job.results())
        self.assertFalse(r.ok)
        self.assertEqual(r.error, "RunningError")
        self.assertIn("not a number", r.stderr)
        with self.assertRaises(wasmgrid.Error):
            self.grid.map(program("increment"), ["x"], max_failures=0)
        job = self.grid.submit(program("increment"), ["x", "1"], max_failures=0)
        job.wait(timeout=120)
        self.assertEqual(job.retry(), 1)
        self.assertEqual(job.wait(timeout=120)["counts"]["failed"], 1)
        self.assertEqual(job.retry(), 1)

    def test_cancel_ends_a_running_job(self):
        job = self.grid.submit(program("t_slow"), ["60000"] * 4)
        st = job.cancel()
        self.assertEqual(st["state"], "cancelled", st)
        self.assertEqual(job.wait(timeout=30)["state"], "cancelled")
        self.assertTrue(all(r.status == "cancelled" for r in job.results()))

    def test_jobs_and_workers_are_listed(self):
        job = self.grid.submit(program("increment"), ["1"], name="listed")
        job.wait(timeout=120)
        self.assertIn(job.id, [j["id"] for j in self.grid.jobs()])
        newest = self.grid.jobs(state=["completed", "failed"], limit=1)
        self.assertEqual([(j["id"], j["name"]) for j in newest], [(job.id, "listed")])
        self.assertNotIn(job.id, [j["id"] for j in self.grid.jobs(state="running")])
        workers = self.grid.workers()
        self.assertTrue(any(w["state"] == "attached" for w in workers), workers)

    def test_errors_carry_the_managers_reason(self):
        with self.assertRaises(wasmgrid.Error) as e:
            self.grid.job(999999).status()
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(wasmgrid.Error) as e:
            self.grid.submit(program("increment"), ["1"], memory_mib=999999)
        self.assertEqual(e.exception.status, 400)
        self.assertIn("memory", str(e.exception))
        with self.assertRaises(ValueError):
            self.grid.submit("https://example.invalid/p.wasm", ["1"])

    def test_unreachable_manager_is_a_clear_error(self):
        grid = wasmgrid.Client("127.0.0.1:%s" % os.environ["WG_UNUSED_PORT"], timeout=2)
        with self.assertRaises(wasmgrid.Error) as e:
            grid.jobs()
        self.assertIsNone(e.exception.status)
        self.assertIn("cannot reach the manager", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
