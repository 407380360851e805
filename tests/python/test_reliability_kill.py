"""The kill campaign (tools/kill_campaign.py) at CI size, and proof that its checker can fail.

CI runs 20 kills (about half a minute). The full campaign, 200 kills, is one command:

    .venv/bin/python tools/kill_campaign.py            # or: INPUTPIPE_LONG=1 pytest this file
"""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLS = int(os.environ.get("INPUTPIPE_CAMPAIGN_KILLS",
                           "200" if os.environ.get("INPUTPIPE_LONG") == "1" else "20"))


def _campaign():
    spec = importlib.util.spec_from_file_location(
        "kill_campaign", os.path.join(ROOT, "tools", "kill_campaign.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kill_campaign_every_record_exactly_once(tmp_path):
    campaign = _campaign()
    totals = campaign.run_campaign(kills=KILLS, records=1500, files=5, save_steps=3, seed=KILLS,
                                   workdir=str(tmp_path), step_sleep=0.001, max_steps_between=20,
                                   quiet=True)
    print(f"\n[reliability] kills survived: {totals['kills']} "
          f"({totals['kills_during_save']} before the last captured save was durable, "
          f"{totals['kills_mid_write']} mid-write), restarts: {totals['restarts']}, "
          f"records checked: {totals['records_checked']}, lost: 0, duplicated: 0")
    assert totals["kills"] == KILLS
    assert totals["records_checked"] == 1500 * totals["epochs"]


def _log(tmp_path, lines):
    path = tmp_path / "log"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


GOOD = ["R 0", "S 1 0 1", "S 2 2 3", "S 3 4 5", "C 3", "D 3", "S 4 6 7",
        "R 3", "S 4 6 7", "S 5 8 9", "D 5", "DONE"]


def test_checker_accepts_a_good_log(tmp_path):
    campaign = _campaign()
    restarts, checked = campaign.check_epoch(_log(tmp_path, GOOD), records=10, save_steps=3)
    assert (restarts, checked) == (1, 10)


def test_checker_accepts_a_resume_at_the_final_save_of_end(tmp_path):
    # hook.end() saves the last step (2 here, not a multiple of save_steps); a kill before DONE
    # resumes there.
    campaign = _campaign()
    lines = ["R 0"] + [f"S {s} {' '.join(str(8 * (s - 1) + i) for i in range(8))}" for s in (1, 2)]
    lines += ["D 2", "R 2", "D 2", "DONE"]
    assert campaign.check_epoch(_log(tmp_path, lines), records=16, save_steps=3) == (1, 16)


@pytest.mark.parametrize("bad, what", [
    ([l if l != "S 5 8 9" else "S 5 8 1" for l in GOOD], "duplicated"),            # a repeat
    ([l if l != "S 5 8 9" else "S 5 8" for l in GOOD], "missing"),                 # a loss
    ([l if l != "S 4 6 7" else "S 4 7 6" for l in GOOD[:7]] + GOOD[7:], "replayed"),  # reorder
    (GOOD[:6] + ["D 6"] + GOOD[6:], "reported durable"),   # resumed before a durable save
    (GOOD[:7] + ["R 1"] + GOOD[8:], "not a save step"),
    (GOOD[:-1], "did not end"),
])
def test_checker_rejects(tmp_path, bad, what):
    campaign = _campaign()
    with pytest.raises(campaign.Violation, match=what):
        campaign.check_epoch(_log(tmp_path, bad), records=10, save_steps=3)
