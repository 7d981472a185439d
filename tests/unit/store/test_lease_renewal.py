"""A running job renews its lease between batches, so a step longer than the lease (a slow model,
a contested vote) never makes a live run look abandoned to another host."""

from __future__ import annotations

import asyncio

from maker_cli.jobs import runner as runner_mod
from maker_cli.store.run_store import RunStore


def test_the_lease_is_renewed_while_a_block_runs_and_only_by_its_holder(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "LEASE_RENEW_S", 0.05)
    with RunStore(tmp_path / "s.sqlite") as store:
        run_id = store.create_run("hanoi", "hanoi-3", "sim:p=1", {}, 7)
        store.claim(run_id)
        before = store.get_run(run_id).updated_at

        async def slow_step() -> None:
            async with runner_mod.leased(store, run_id):
                await asyncio.sleep(0.3)  # longer than a few renewals

        asyncio.run(slow_step())
        after = store.get_run(run_id).updated_at
        assert after > before
        store.release(run_id)
        assert store.renew(run_id) is False  # not this process's lease any more
        store.claim(run_id, owner="elsewhere:1")
        assert store.renew(run_id) is False and store.get_run(run_id).owner == "elsewhere:1"


def test_a_broken_store_does_not_stop_the_job(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "LEASE_RENEW_S", 0.01)

    class Broken:
        def renew(self, run_id: str) -> bool:
            raise OSError("disk gone")

    async def block() -> str:
        async with runner_mod.leased(Broken(), "r-1"):  # type: ignore[arg-type]
            await asyncio.sleep(0.05)
        return "done"

    assert asyncio.run(block()) == "done"
