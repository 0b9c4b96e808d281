"""The markdown plan, as posted in a pull-request comment: counts, the creates with their cost, the total."""

from __future__ import annotations

from reconciler.errors import Location
from reconciler.plan.diff import ORDER, Action, ActionKind, Plan, Totals
from reconciler.plan.lock import Changed, Check, Drift
from reconciler.records import Orphans
from reconciler.ui.plans import markdown


def action(name: str, kind: ActionKind = ActionKind.CREATE, *, cost: float = 0.099, reason: str = "not stored"):
    paid = cost if kind is ActionKind.CREATE else 0.0
    return Action(name, f"sha256:{name}", "wan-2.2-t2v-fast", kind, reason, Location("specs/a.yaml", 1), paid, 93.0)


def plan_of(*actions: Action) -> Plan:
    counts = {kind: sum(1 for a in actions if a.kind is kind) for kind in ORDER}
    cost = round(sum(a.est_cost_usd for a in actions), 6)
    generations = sum(1 for a in actions if a.est_cost_usd)
    return Plan(actions, Orphans(), Totals(counts, generations, cost, 93.0, 8), "segmind")


def test_a_plan_shows_its_counts_a_table_of_creates_with_costs_and_the_total() -> None:
    text = markdown(
        plan_of(
            action("cat"),
            action("twin", cost=0.0, reason="not stored; shares one generation with cat"),
            action("eagle", ActionKind.NOOP),
            action("owl", ActionKind.PENDING),
            action("bad", ActionKind.FAILED),
        )
    )
    assert text == (
        "### reconciler plan\n"
        "\n"
        "**2 to create (1 generation), est. $0.10, about 2 min at concurrency 8; 1 up to date; 1 pending; 1 failed**\n"
        "\n"
        "| spec | model | est. cost | why |\n"
        "| --- | --- | ---: | --- |\n"
        "| `cat` | wan-2.2-t2v-fast | $0.099 | not stored |\n"
        "| `twin` | wan-2.2-t2v-fast | (shared) | not stored; shares one generation with cat |\n"
        "\n"
        "Total: **$0.10**\n"
        "\n"
        "pending: `owl`\n"
        "\n"
        "failed: `bad`\n"
    )


def test_nothing_to_do_is_one_line_and_no_table() -> None:
    assert markdown(plan_of(action("cat", ActionKind.NOOP))) == (
        "### reconciler plan\n\n**nothing to create; 1 up to date**\n"
    )


def test_a_huge_plan_lists_fifty_creates_and_sums_up_the_rest() -> None:
    text = markdown(plan_of(*(action(f"v{i:03}") for i in range(60))))
    rows = [line for line in text.splitlines() if line.startswith("| `v")]
    assert len(rows) == 50
    assert "| ... and 10 more | | $0.99 | `plan --json` lists them all |" in text
    assert "Total: **$5.94**" in text
    assert len(markdown(plan_of(*(action(f"v{i:05}") for i in range(20_000))))) < 10_000


def test_a_reason_with_pipes_and_newlines_stays_in_its_cell() -> None:
    text = markdown(plan_of(action("cat", reason="last attempt failed: a | b\nc")))
    assert "| `cat` | wan-2.2-t2v-fast | $0.099 | last attempt failed: a \\| b c |" in text


def test_warnings_and_the_lock_check_follow_the_plan() -> None:
    drift = Drift(added=("cat",), changed=(Changed("dog", "sha256:" + "a" * 64, "sha256:" + "b" * 64),))
    text = markdown(
        plan_of(action("cat")),
        warnings=["specs/a.yaml:2:3: warning: not reproducible"],
        lock=Check("reconciler.lock", drift),
    )
    assert text.endswith(
        "Warnings:\n"
        "\n"
        "- specs/a.yaml:2:3: warning: not reproducible\n"
        "\n"
        "**`reconciler.lock` does not match the specs**: run `reconciler plan --update-lock` (pays nothing) "
        "or `reconciler apply`, and commit it.\n"
        "\n"
        "- added: cat\n"
        "- changed: dog (key sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb)\n"
    )
